// batchctl as a user runs it: the real binary against a real gateway and a
// real simulator, both on 127.0.0.1:0. Checks what it prints and its exit
// status for each kind of outcome.
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "tests/support/gateway_fixture.h"
#include "tests/support/help_check.h"
#include "tests/support/subprocess.h"

namespace serpwow::testing {
namespace {

using sim::BatchState;

class BatchctlTest : public GatewayTest {
 protected:
  void SetUp() override {
    StartAll();
    sim_->PutBatch("9E867FAA", BatchState::kQueued, 200);
    sim_->PutBatch("2A6F94BB", BatchState::kRunning, 150);
    sim_->PutBatch("DEMOIDLE", BatchState::kIdle, 10);
  }

  ProcessResult Batchctl(std::vector<std::string> args) {
    std::vector<std::string> argv = {BATCHCTL_PATH};
    bool has_target = false;
    for (const auto& a : args) has_target = has_target || absl::StartsWith(a, "--target");
    if (!has_target) argv.push_back(absl::StrCat("--target=", gateway_->address()));
    argv.insert(argv.end(), args.begin(), args.end());
    return RunProcess(argv);
  }
};

TEST_F(BatchctlTest, StopsAQueuedBatch) {
  ProcessResult r = Batchctl({"stop", "9E867FAA"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "stopped batch 9E867FAA (was queued): credits refunded\n");
  EXPECT_EQ(r.err, "");
}

TEST_F(BatchctlTest, DescribeShowsABatchInFull) {
  ProcessResult r = Batchctl({"describe", "9E867FAA"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(
      absl::StartsWith(r.out, "batch 9E867FAA \"9E867FAA\": queued (200 credits reserved)\n"))
      << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "  credits:       200 per run\n")) << r.out;
  EXPECT_EQ(r.err, "");
}

// Piped (not a terminal): one tab-separated row, no header, exact times.
TEST_F(BatchctlTest, GetPipedIsOneTabSeparatedRow) {
  ProcessResult r = Batchctl({"get", "9E867FAA"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> cells = absl::StrSplit(absl::StripSuffix(r.out, "\n"), '\t');
  ASSERT_EQ(cells.size(), 10u) << r.out;
  EXPECT_EQ(cells[0], "9E867FAA");
  EXPECT_EQ(cells[2], "queued");
  EXPECT_EQ(cells[3], "manual");
  EXPECT_EQ(cells[6], "200");
  EXPECT_EQ(cells[8], "") << "no last run: empty when piped";
  EXPECT_TRUE(absl::EndsWith(cells[9], "Z")) << "creation time as RFC 3339: " << cells[9];
  EXPECT_EQ(absl::StrContains(r.out, "\n"), true);
  EXPECT_EQ(r.err, "");
}

// On a terminal: a header and aligned columns that fit $COLUMNS.
TEST_F(BatchctlTest, GetOnATerminalIsATableThatFitsItsWidth) {
  std::vector<std::string> argv = {BATCHCTL_PATH, absl::StrCat("--target=", gateway_->address()),
                                   "get", "9E867FAA"};
  ProcessResult r = RunProcess(argv, {"BATCHCTL_FORCE_TTY=1", "COLUMNS=200"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> lines = absl::StrSplit(absl::StripSuffix(r.out, "\n"), '\n');
  ASSERT_EQ(lines.size(), 2u) << r.out;
  EXPECT_TRUE(absl::StartsWith(lines[0], "ID         NAME       STATUS   SCHEDULE   PRIORITY"))
      << lines[0];
  EXPECT_TRUE(absl::StrContains(lines[1], "never")) << "no last run yet: " << lines[1];
  ProcessResult narrow = RunProcess(argv, {"BATCHCTL_FORCE_TTY=1", "COLUMNS=60"});
  for (absl::string_view line : absl::StrSplit(narrow.out, '\n', absl::SkipEmpty())) {
    // Only the flexible columns shrink; the rest keep their width.
    EXPECT_LE(line.size(), 100u) << line;
  }
  ProcessResult bare = RunProcess({BATCHCTL_PATH, absl::StrCat("--target=", gateway_->address()),
                                   "get", "9E867FAA", "--no-headers"},
                                  {"BATCHCTL_FORCE_TTY=1", "COLUMNS=200"});
  EXPECT_EQ(absl::StrSplit(absl::StripSuffix(bare.out, "\n"), '\n').begin()->substr(0, 8),
            "9E867FAA")
      << bare.out;
}

TEST_F(BatchctlTest, OutputFormatsNameJsonlAndJson) {
  ProcessResult name = Batchctl({"get", "9E867FAA", "-o", "name"});
  EXPECT_EQ(name.exit_code, 0) << name.err;
  EXPECT_EQ(name.out, "batches/9E867FAA\n");
  ProcessResult jsonl = Batchctl({"get", "9E867FAA", "--output=jsonl"});
  EXPECT_EQ(jsonl.exit_code, 0) << jsonl.err;
  EXPECT_EQ(std::count(jsonl.out.begin(), jsonl.out.end(), '\n'), 1) << jsonl.out;
  v1::Batch parsed;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(jsonl.out, &parsed).ok()) << jsonl.out;
  EXPECT_EQ(parsed.batch_id(), "9E867FAA");
  ProcessResult bad = Batchctl({"get", "9E867FAA", "-o", "yaml"});
  EXPECT_EQ(bad.exit_code, 64);
  EXPECT_TRUE(absl::StrContains(bad.err, "-o yaml: the formats are")) << bad.err;
  ProcessResult both = Batchctl({"get", "9E867FAA", "--json", "-o", "name"});
  EXPECT_EQ(both.exit_code, 64) << both.err;
}

TEST_F(BatchctlTest, GetByIdOrName) {
  ProcessResult by_name = Batchctl({"get", "batches/DEMOIDLE", "--json"});
  EXPECT_EQ(by_name.exit_code, 0) << by_name.err;
  v1::Batch batch;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(by_name.out, &batch).ok()) << by_name.out;
  EXPECT_EQ(batch.name(), "batches/DEMOIDLE");
  EXPECT_EQ(batch.status(), v1::BATCH_STATUS_IDLE);
  // Reading never changes the batch.
  EXPECT_EQ(sim_->GetBatch("9E867FAA")->state, BatchState::kQueued);
}

TEST_F(BatchctlTest, GetOfARouteWordOrAnUnknownBatch) {
  ProcessResult word = Batchctl({"get", "stopall"});
  EXPECT_EQ(word.exit_code, 3);
  EXPECT_TRUE(absl::StrContains(word.err, "INVALID_ARGUMENT (INVALID_NAME)")) << word.err;
  EXPECT_EQ(sim_->request_count(), 0);
  EXPECT_EQ(sim_->GetBatch("9E867FAA")->state, BatchState::kQueued);
  ProcessResult unknown = Batchctl({"get", "NOSUCH"});
  EXPECT_EQ(unknown.exit_code, 5);
  EXPECT_TRUE(absl::StrContains(unknown.err, "NOT_FOUND (BATCH_NOT_FOUND)")) << unknown.err;
}

TEST_F(BatchctlTest, StopsARunningBatch) {
  ProcessResult r = Batchctl({"stop", "2A6F94BB", "--timeout=5s"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "stopped batch 2A6F94BB (was running): no refund\n");
}

TEST_F(BatchctlTest, IdleBatchExitsWithFailedPrecondition) {
  ProcessResult r = Batchctl({"stop", "DEMOIDLE"});
  EXPECT_EQ(r.exit_code, 9);
  EXPECT_EQ(r.out, "");
  EXPECT_TRUE(absl::StartsWith(r.err, "batchctl: FAILED_PRECONDITION (BATCH_NOT_STOPPABLE): "))
      << r.err;
}

TEST_F(BatchctlTest, UnknownBatchExitsWithNotFound) {
  ProcessResult r = Batchctl({"stop", "NOSUCH"});
  EXPECT_EQ(r.exit_code, 5);
  EXPECT_TRUE(absl::StrContains(r.err, "NOT_FOUND (BATCH_NOT_FOUND)")) << r.err;
}

TEST_F(BatchctlTest, InvalidIdExitsWithInvalidArgumentAndNothingGoesUpstream) {
  ProcessResult r = Batchctl({"stop", "../account"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_TRUE(absl::StrContains(r.err, "INVALID_ARGUMENT (INVALID_BATCH_ID)")) << r.err;
  EXPECT_EQ(sim_->request_count(), 0);
}

TEST_F(BatchctlTest, RateLimitShowsTheRetryHint) {
  sim::Fault f;
  f.path_suffix = "/stop";
  f.status = 429;
  f.headers = {{"Retry-After", "17"}};
  sim_->AddFault(f);
  ProcessResult r = Batchctl({"stop", "9E867FAA"});
  EXPECT_EQ(r.exit_code, 8);
  EXPECT_TRUE(absl::StrContains(r.err, "(RATE_LIMITED)")) << r.err;
  EXPECT_TRUE(absl::StrContains(r.err, "[retry after 17s]")) << r.err;
}

TEST_F(BatchctlTest, JsonOutputIsProtoJson) {
  ProcessResult r = Batchctl({"stop", "9E867FAA", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  v1::StopBatchResponse response;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(r.out, &response).ok()) << r.out;
  EXPECT_EQ(response.batch_id(), "9E867FAA");
  EXPECT_TRUE(response.credits_refunded());
  EXPECT_EQ(response.previous_status(), v1::BATCH_STATUS_QUEUED);
  EXPECT_EQ(response.refund_basis(), v1::REFUND_BASIS_PRE_READ);
}

TEST_F(BatchctlTest, JsonErrorIsAGoogleRpcStatus) {
  ProcessResult r = Batchctl({"stop", "DEMOIDLE", "--json"});
  EXPECT_EQ(r.exit_code, 9);
  EXPECT_TRUE(absl::StrContains(r.out, R"("code":9)")) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, R"("reason":"BATCH_NOT_STOPPABLE")")) << r.out;
}

TEST_F(BatchctlTest, TimeoutIsADeadline) {
  sim::Fault hang;
  hang.action = sim::Fault::Action::kHang;
  hang.path_suffix = "/stop";
  sim_->AddFault(hang);
  ProcessResult r = Batchctl({"stop", "9E867FAA", "--timeout=400ms"});
  EXPECT_EQ(r.exit_code, 4) << r.err;
  EXPECT_TRUE(absl::StrContains(r.err, "DEADLINE_EXCEEDED")) << r.err;
  EXPECT_TRUE(WaitForNoUpstreamTransfers(absl::Seconds(2)));
}

TEST_F(BatchctlTest, UnreachableServerIsUnavailable) {
  std::string address = gateway_->address();
  gateway_.reset();
  ProcessResult r = Batchctl({"stop", "9E867FAA", "--target=" + address, "--timeout=3s"});
  EXPECT_EQ(r.exit_code, 14) << r.err;
  EXPECT_TRUE(absl::StrContains(r.err, "UNAVAILABLE")) << r.err;
}

TEST_F(BatchctlTest, UsageErrorsExit64) {
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {}, {"frobnicate", "X"}, {"stop"}, {"stop", "A", "B"}, {"stop", "A", "--timeout=0s"}}) {
    ProcessResult r = Batchctl(args);
    EXPECT_EQ(r.exit_code, 64) << absl::StrJoin(args, " ") << ": " << r.err;
    EXPECT_TRUE(absl::StrContains(r.err, "usage: batchctl COMMAND")) << r.err;
  }
  EXPECT_EQ(sim_->request_count(), 0);
}

TEST(BatchctlHelpTest, HelpExitsZeroListingTheFlagsWithoutBuildPaths) {
  for (const char* help : {"--help", "-h", "--helpshort"}) {
    ProcessResult r = RunProcess({BATCHCTL_PATH, help});
    EXPECT_EQ(r.exit_code, 0) << help << ": " << r.err;
    EXPECT_EQ(r.err, "") << help;
    EXPECT_TRUE(absl::StartsWith(r.out, "batchctl: manages SerpWow batches")) << r.out;
    EXPECT_TRUE(absl::StrContains(r.out, "  stop BATCH_ID")) << r.out;
    EXPECT_TRUE(
        HelpIsClean(r.out, {"target", "timeout", "o", "output", "json", "no_headers", "tls",
                            "ca_file", "cert_file", "key_file", "server_name", "token_file"}));
    EXPECT_TRUE(absl::StrContains(r.out, "--target=\"localhost:50051\"")) << r.out;
  }
}

TEST(BatchctlHelpTest, BadTargetIsAUsageErrorNamingTheFlag) {
  for (const char* target : {"nonsense", "host:99999", "::1:50051"}) {
    ProcessResult r = RunProcess({BATCHCTL_PATH, std::string("--target=") + target, "stop", "X"});
    EXPECT_EQ(r.exit_code, 64) << target << ": " << r.err;
    EXPECT_TRUE(absl::StartsWith(r.err, "batchctl: --target")) << r.err;
  }
}

TEST(BatchctlHelpTest, UnreadableFilesNameTheFlagAndThePath) {
  ProcessResult r = RunProcess(
      {BATCHCTL_PATH, "--target=127.0.0.1:1", "--ca_file=/nonexistent/ca.pem", "stop", "X"});
  EXPECT_EQ(r.exit_code, 64);
  EXPECT_TRUE(absl::StrContains(
      r.err, "--ca_file: cannot read /nonexistent/ca.pem: No such file or directory"))
      << r.err;
}

}  // namespace
}  // namespace serpwow::testing
