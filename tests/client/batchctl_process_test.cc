// batchctl as a user runs it: the real binary against a real gateway and a
// real simulator, both on 127.0.0.1:0. Checks what it prints and its exit
// status for each kind of outcome.
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <string>
#include <thread>
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

// list pages through ListBatches until --limit, says on stderr what it left
// out, and builds its filter from flags.
TEST_F(BatchctlTest, ListPagesUpToTheLimitAndFiltersWithFlags) {
  sim_->AddGeneratedBatches(40, 7);  // plus the 3 of SetUp
  ProcessResult five = Batchctl({"list", "--limit=5"});
  EXPECT_EQ(five.exit_code, 0) << five.err;
  EXPECT_EQ(std::count(five.out.begin(), five.out.end(), '\n'), 5) << five.out;
  EXPECT_EQ(five.err, "showing 5 of 43 (--limit=0 or --all for all)\n");
  ProcessResult all = Batchctl({"list", "--all", "-o", "name"});
  EXPECT_EQ(all.exit_code, 0) << all.err;
  EXPECT_EQ(std::count(all.out.begin(), all.out.end(), '\n'), 43);
  EXPECT_TRUE(absl::StrContains(all.out, "batches/9E867FAA\n")) << all.out;
  EXPECT_EQ(all.err, "");
  ProcessResult queued = Batchctl({"list", "--status=queued", "--all"});
  EXPECT_EQ(queued.exit_code, 0) << queued.err;
  for (absl::string_view line : absl::StrSplit(queued.out, '\n', absl::SkipEmpty())) {
    std::vector<std::string> cells = absl::StrSplit(line, '\t');
    ASSERT_GE(cells.size(), 3u);
    EXPECT_EQ(cells[2], "queued") << line;
  }
  ProcessResult bad = Batchctl({"list", "--filter=colour = red"});
  EXPECT_EQ(bad.exit_code, 3);
  EXPECT_TRUE(absl::StrContains(bad.err, "INVALID_ARGUMENT (INVALID_FILTER)")) << bad.err;
}

// A batch's life through the CLI: create (flags or a YAML file), update
// exactly the flags given, start, delete.
TEST_F(BatchctlTest, CreateUpdateStartAndDelete) {
  ProcessResult created =
      Batchctl({"create", "--name=Nightly", "--schedule=daily", "--hours=9,17", "-o", "name"});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  const std::string name(absl::StripSuffix(created.out, "\n"));
  ASSERT_TRUE(absl::StartsWith(name, "batches/")) << name;
  const std::string id = name.substr(8);
  ProcessResult updated = Batchctl({"update", id, "--priority=high", "--email=ops@example.com"});
  EXPECT_EQ(updated.exit_code, 0) << updated.err;
  EXPECT_EQ(updated.out, "updated batch " + id + ": priority, notification_email\n");
  ProcessResult got = Batchctl({"get", id, "--json"});
  v1::Batch batch;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(got.out, &batch).ok()) << got.out;
  EXPECT_EQ(batch.priority(), v1::PRIORITY_HIGH);
  EXPECT_EQ(batch.schedule_hours_size(), 2) << "update changed only what it was given";
  EXPECT_EQ(Batchctl({"update", id}).exit_code, 64);
  ProcessResult started = Batchctl({"start", id});
  EXPECT_EQ(started.exit_code, 0) << started.err;
  EXPECT_TRUE(absl::StartsWith(started.out, "started batch " + id + ": queued, ")) << started.out;
  EXPECT_TRUE(absl::StrContains(started.out, "its results will be result set 1")) << started.out;
  EXPECT_EQ(Batchctl({"start", id}).exit_code, 9) << "already active";
  EXPECT_EQ(Batchctl({"stop", id}).exit_code, 0);
  ProcessResult deleted = Batchctl({"delete", id});  // stdin is not a terminal: no question
  EXPECT_EQ(deleted.exit_code, 0) << deleted.err;
  EXPECT_EQ(deleted.out, "deleted batch " + id + " (0 searches, 0 result sets)\n");
  EXPECT_EQ(Batchctl({"get", id}).exit_code, 5);

  const std::string file = ::testing::TempDir() + "/batchctl_batch.yaml";
  {
    std::ofstream out(file);
    out << "display_name: From YAML\nschedule_type: weekly\nschedule_days_of_week: [1, 3]\n"
           "schedule_hours: [9]\n";
  }
  ProcessResult from_file = Batchctl({"create", "-f", file});
  EXPECT_EQ(from_file.exit_code, 0) << from_file.err;
  EXPECT_TRUE(absl::StrContains(from_file.out, "\"From YAML\"")) << from_file.out;
  ProcessResult bad = Batchctl({"create", "--name=Bad", "--schedule=daily", "--hours=25"});
  EXPECT_EQ(bad.exit_code, 3);
  EXPECT_TRUE(absl::StrContains(bad.err, "batch.schedule_hours[0]")) << bad.err;
}

TEST_F(BatchctlTest, StopAllDryRunListsAndStopsNothingThenStopAll) {
  ProcessResult dry = Batchctl({"stop", "--all", "--dry-run"});
  EXPECT_EQ(dry.exit_code, 0) << dry.err;
  // The queued ones first (listed first), each with its refund.
  EXPECT_EQ(dry.out, "9E867FAA\t9E867FAA\tqueued\t200\t200\n2A6F94BB\t2A6F94BB\trunning\t150\t0\n")
      << dry.out;
  EXPECT_EQ(dry.err, "would stop 2 batches; about 200 credits would be refunded (pre-read)\n");
  EXPECT_EQ(sim_->GetBatch("9E867FAA")->state, BatchState::kQueued);
  ProcessResult stop = Batchctl({"stop", "--all"});
  EXPECT_EQ(stop.exit_code, 0) << stop.err;
  EXPECT_TRUE(absl::StrContains(
      stop.out, "stopped 2 batches (\"2 Batches stopped\"); about 200 credits refunded"))
      << stop.out;
  EXPECT_EQ(sim_->GetBatch("9E867FAA")->state, BatchState::kIdle);
  EXPECT_EQ(Batchctl({"stop", "--all", "X"}).exit_code, 64);
}

TEST_F(BatchctlTest, AccountResultsAndSearches) {
  ASSERT_TRUE(sim_->PutSearches("DEMOIDLE", 3).ok());
  ASSERT_TRUE(sim_->CompleteRuns("DEMOIDLE", 2).ok());
  ProcessResult account = Batchctl({"account"});
  EXPECT_EQ(account.exit_code, 0) << account.err;
  std::vector<std::string> cells = absl::StrSplit(absl::StripSuffix(account.out, "\n"), '\t');
  ASSERT_EQ(cells.size(), 6u) << account.out;
  EXPECT_EQ(cells[4], "3/10000") << "batches used/limit";
  ProcessResult sets = Batchctl({"results", "list", "DEMOIDLE"});
  EXPECT_EQ(sets.exit_code, 0) << sets.err;
  EXPECT_EQ(std::count(sets.out.begin(), sets.out.end(), '\n'), 2) << sets.out;
  EXPECT_TRUE(absl::StartsWith(sets.out, "2\t")) << "newest first: " << sets.out;
  ProcessResult one = Batchctl({"results", "get", "DEMOIDLE", "1"});
  EXPECT_EQ(one.exit_code, 0) << one.err;
  EXPECT_TRUE(absl::StartsWith(one.out, "result set 1 of batch DEMOIDLE\n")) << one.out;
  ProcessResult links = Batchctl({"results", "export", "DEMOIDLE", "1", "--format=csv"});
  EXPECT_EQ(links.exit_code, 0) << links.err;
  for (absl::string_view line : absl::StrSplit(links.out, '\n', absl::SkipEmpty())) {
    EXPECT_TRUE(absl::StartsWith(line, sim_->base_url() + "/files/")) << line;
    EXPECT_TRUE(absl::EndsWith(line, ".csv")) << line;
  }
  EXPECT_EQ(Batchctl({"results", "export", "DEMOIDLE", "1", "--format=xml"}).exit_code, 64);
  EXPECT_EQ(Batchctl({"results", "get", "DEMOIDLE", "9"}).exit_code, 5);
  ProcessResult searches = Batchctl({"searches", "list", "DEMOIDLE"});
  EXPECT_EQ(searches.exit_code, 0) << searches.err;
  EXPECT_EQ(std::count(searches.out.begin(), searches.out.end(), '\n'), 3) << searches.out;
  EXPECT_EQ(Batchctl({"searches", "export", "DEMOIDLE"}).exit_code, 0);
  EXPECT_EQ(Batchctl({"searches", "export", "DEMOIDLE", "--format=jsonl"}).exit_code, 64);
  EXPECT_EQ(Batchctl({"results"}).exit_code, 64);
}

TEST_F(BatchctlTest, SearchesAddFromAFileFindUpdateDeleteAndClear) {
  // 1,500 searches: two AddSearches calls of 1000 and 500, one after another.
  const std::string file = ::testing::TempDir() + "/batchctl_searches.csv";
  {
    std::ofstream out(file);
    out << "q,location,gl,custom_id\n";
    for (int i = 0; i < 1500; ++i) {
      out << (i % 10 == 0 ? "pizza " : "coffee ") << i << ",\"New York,NY\",us,c" << i << "\n";
    }
  }
  ProcessResult added = Batchctl({"searches", "add", "DEMOIDLE", "-f", file});
  EXPECT_EQ(added.exit_code, 0) << added.err;
  EXPECT_EQ(added.out, "added 1500 searches to batch DEMOIDLE; it now has 1500\n");
  EXPECT_EQ(added.err, "") << "no progress bar when stderr is not a terminal";

  ProcessResult found = Batchctl({"searches", "find", "DEMOIDLE", "pizza", "--all"});
  EXPECT_EQ(found.exit_code, 0) << found.err;
  EXPECT_EQ(std::count(found.out.begin(), found.out.end(), '\n'), 150) << found.out;
  ProcessResult by_custom_id = Batchctl({"searches", "list", "DEMOIDLE", "--custom-id=c7"});
  EXPECT_EQ(by_custom_id.exit_code, 0) << by_custom_id.err;
  ASSERT_EQ(std::count(by_custom_id.out.begin(), by_custom_id.out.end(), '\n'), 1)
      << by_custom_id.out;
  const std::string id = by_custom_id.out.substr(0, by_custom_id.out.find('\t'));

  ProcessResult updated =
      Batchctl({"searches", "update", "DEMOIDLE", id, "--q=tea", "--param", "hl=en"});
  EXPECT_EQ(updated.exit_code, 0) << updated.err;
  EXPECT_EQ(updated.out, "updated search " + id + ": q, params.hl\n");
  ProcessResult tea = Batchctl({"searches", "find", "DEMOIDLE", "tea"});
  EXPECT_TRUE(absl::StartsWith(tea.out, id + "\t")) << tea.out;

  ProcessResult listed = Batchctl({"searches", "list", "DEMOIDLE", "--limit=3"});
  std::vector<std::string> ids;
  for (absl::string_view line : absl::StrSplit(listed.out, '\n', absl::SkipEmpty())) {
    ids.emplace_back(line.substr(0, line.find('\t')));
  }
  ASSERT_EQ(ids.size(), 3u) << listed.out;
  ProcessResult one = Batchctl({"searches", "delete", "DEMOIDLE", ids[0]});
  EXPECT_EQ(one.exit_code, 0) << one.err;
  EXPECT_EQ(one.out, "deleted 1 search\n");
  ProcessResult two = Batchctl({"searches", "delete", "DEMOIDLE", ids[1], ids[2]});
  EXPECT_EQ(two.exit_code, 0) << two.err;
  EXPECT_EQ(two.out, "deleted 2 searches\n");
  EXPECT_EQ(Batchctl({"searches", "delete", "DEMOIDLE", ids[0]}).exit_code, 5) << "gone";

  ProcessResult dry = Batchctl({"searches", "clear", "DEMOIDLE", "--dry-run"});
  EXPECT_EQ(dry.exit_code, 0) << dry.err;
  EXPECT_EQ(dry.out, "would delete 1497 searches\n");
  ProcessResult cleared = Batchctl({"searches", "clear", "DEMOIDLE", "--yes"});
  EXPECT_EQ(cleared.exit_code, 0) << cleared.err;
  EXPECT_EQ(cleared.out, "deleted 1497 searches\n");
  EXPECT_EQ(Batchctl({"searches", "list", "DEMOIDLE"}).out, "") << "none left";

  // Refused before anything is sent.
  const int64_t before = sim_->request_count();
  ProcessResult key = Batchctl({"searches", "add", "DEMOIDLE", "--q=a", "--param", "api_key=x"});
  EXPECT_EQ(key.exit_code, 64);
  EXPECT_TRUE(absl::StrContains(key.err, "api_key may not be a search parameter")) << key.err;
  EXPECT_EQ(Batchctl({"searches", "add", "DEMOIDLE", "-f", "/nonexistent.txt"}).exit_code, 64);
  EXPECT_EQ(Batchctl({"searches", "update", "DEMOIDLE", id}).exit_code, 64) << "no field given";
  EXPECT_EQ(sim_->request_count(), before);
}

// `watch` and `start --wait`: fast poll intervals, and runs moved on by the
// simulator's virtual clock.
class BatchctlWatchTest : public BatchctlTest {
 protected:
  void SetUp() override {
    logic::WatchIntervals& i = options_.watch.intervals;
    i.queued = i.running = absl::Milliseconds(30);
    i.idle = absl::Milliseconds(60);
    i.poll_rate = 1000;
    sim::SimulatorOptions o;
    o.queue_delay = absl::Seconds(10);  // virtual: AdvanceTime moves runs on
    o.run_duration = absl::Seconds(10);
    StartAll(o);
    sim_->PutBatch("WAITME", BatchState::kIdle, 20);
  }
  // Runs batchctl in the background; the test moves the simulator meanwhile.
  std::thread Background(std::vector<std::string> args, ProcessResult* out) {
    return std::thread([this, args, out] { *out = Batchctl(args); });
  }
  // Until `n` watch streams are open in the gateway.
  void WaitForStreams(size_t n) {
    const absl::Time until = absl::Now() + absl::Seconds(10);
    while (absl::Now() < until && gateway_->watch_hub().streams() < n) {
      absl::SleepFor(absl::Milliseconds(5));
    }
    ASSERT_EQ(gateway_->watch_hub().streams(), n);
  }
  void WaitForState(const std::string& id, BatchState state) {
    const absl::Time until = absl::Now() + absl::Seconds(10);
    while (absl::Now() < until && sim_->GetBatch(id)->state != state) {
      absl::SleepFor(absl::Milliseconds(5));
    }
    ASSERT_EQ(sim_->GetBatch(id)->state, state);
  }
};

TEST_F(BatchctlWatchTest, StartWaitExitsZeroWhenTheRunCompletes) {
  ProcessResult r;
  std::thread cli = Background({"start", "WAITME", "--wait"}, &r);
  WaitForState("WAITME", BatchState::kQueued);
  sim_->AdvanceTime(absl::Seconds(25));  // past the queue and the run: result set 1
  cli.join();
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(absl::StartsWith(r.out, "started batch WAITME: queued")) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "RUN_COMPLETED   result set 1")) << r.out;
  EXPECT_TRUE(absl::EndsWith(r.out, "run completed: result set 1, 20 searches, 0 failed\n"))
      << r.out;
}

TEST_F(BatchctlWatchTest, StartWaitExits65WhenTheRunIsStopped) {
  ProcessResult r;
  std::thread cli = Background({"start", "WAITME", "--wait"}, &r);
  WaitForState("WAITME", BatchState::kQueued);
  EXPECT_EQ(Batchctl({"stop", "WAITME"}).exit_code, 0);
  cli.join();
  EXPECT_EQ(r.exit_code, 65) << r.out << r.err;
  EXPECT_TRUE(absl::StrContains(r.out, "RUN_ENDED       idle without a result set")) << r.out;
  EXPECT_TRUE(absl::EndsWith(r.out, "run ended without results\n")) << r.out;
}

TEST_F(BatchctlWatchTest, WatchPrintsOneLinePerEventAndJsonlUntilDone) {
  ProcessResult lines, jsonl;
  std::thread a = Background({"watch", "WAITME", "--until-done"}, &lines);
  std::thread b = Background({"watch", "WAITME", "--until-done", "-o", "jsonl"}, &jsonl);
  WaitForStreams(2);
  EXPECT_EQ(Batchctl({"start", "WAITME"}).exit_code, 0);
  WaitForState("WAITME", BatchState::kQueued);
  // The poller reads the batch again (it is shared by both streams): it
  // sees the batch queued.
  const int64_t seen = sim_->request_count();
  const absl::Time until = absl::Now() + absl::Seconds(10);
  while (absl::Now() < until && sim_->request_count() < seen + 2) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  sim_->AdvanceTime(absl::Seconds(25));
  a.join();
  b.join();
  EXPECT_EQ(lines.exit_code, 0) << lines.err;
  std::vector<std::string> rows = absl::StrSplit(lines.out, '\n', absl::SkipEmpty());
  ASSERT_GE(rows.size(), 3u) << lines.out;
  EXPECT_TRUE(absl::StrContains(rows.front(), "  SNAPSHOT        idle, 20 searches")) << lines.out;
  EXPECT_TRUE(absl::StrContains(lines.out, "STATUS_CHANGED  queued (was idle)")) << lines.out;
  EXPECT_TRUE(absl::StrContains(rows.back(), "RUN_COMPLETED   result set 1: 20 searches"))
      << lines.out;
  EXPECT_EQ(jsonl.exit_code, 0) << jsonl.err;
  std::vector<std::string> objects = absl::StrSplit(jsonl.out, '\n', absl::SkipEmpty());
  ASSERT_FALSE(objects.empty());
  v1::WatchBatchEvent last;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(objects.back(), &last).ok())
      << objects.back();
  EXPECT_EQ(last.type(), v1::WatchBatchEvent::EVENT_TYPE_RUN_COMPLETED);
  EXPECT_EQ(last.result_set().name(), "batches/WAITME/resultSets/1");
}

TEST_F(BatchctlWatchTest, WatchEndsWith65WhenTheBatchIsDeleted) {
  ProcessResult r;
  const int64_t before = sim_->request_count();
  std::thread cli = Background({"watch", "WAITME"}, &r);
  WaitForStreams(1);
  // Two polls: the first read was answered (a batch gone before it would be
  // NOT_FOUND at the start, not BATCH_DELETED).
  const absl::Time until = absl::Now() + absl::Seconds(10);
  while (absl::Now() < until && sim_->request_count() < before + 2) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  sim_->RemoveBatch("WAITME");
  cli.join();
  EXPECT_EQ(r.exit_code, 65) << r.out << r.err;
  EXPECT_TRUE(absl::StrContains(r.out, "BATCH_DELETED   the batch was deleted")) << r.out;
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
