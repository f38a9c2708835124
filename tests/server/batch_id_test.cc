#include "server/logic/batch_id.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_split.h"
#include "server/logic/errors.h"
#include "server/upstream/endpoints.h"

namespace serpwow::logic {
namespace {

TEST(BatchId, AcceptsTheDocumentedShapes) {
  for (const char* id : {"9E867FAA", "123456", "a", "batch_1-x", "ABCDEFGHIJKLMNOP"}) {
    EXPECT_TRUE(ValidateBatchId(id).ok()) << id;
  }
  EXPECT_TRUE(ValidateBatchId(std::string(64, 'Z')).ok());
}

TEST(BatchId, RejectsWithBadRequestOnTheField) {
  const std::string cases[] = {"",
                               std::string(65, 'A'),
                               "../x",
                               "a/b",
                               "a?b",
                               "a#b",
                               "a%2Fb",
                               "a b",
                               "a\r\nb",
                               "a.b",
                               "é",
                               std::string("a\0b", 3),
                               "\xEF\xBC\xA1" /* fullwidth A */};
  for (const std::string& id : cases) {
    absl::Status s = ValidateBatchId(id);
    ASSERT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << id;
    EXPECT_EQ(ReasonOf(s), "INVALID_BATCH_ID");
    auto bad = GetDetail<google::rpc::BadRequest>(s);
    ASSERT_TRUE(bad.has_value());
    ASSERT_EQ(bad->field_violations_size(), 1);
    EXPECT_EQ(bad->field_violations(0).field(), "batch_id");
    // The raw input is never echoed back.
    if (id.size() > 1) {
      EXPECT_EQ(std::string(s.message()).find(id), std::string::npos) << s.message();
    }
  }
}

TEST(BatchId, MessagesSayWhatIsWrong) {
  EXPECT_NE(std::string(ValidateBatchId("").message()).find("empty"), std::string::npos);
  EXPECT_NE(std::string(ValidateBatchId(std::string(70, 'a')).message()).find("70"),
            std::string::npos);
  EXPECT_NE(std::string(ValidateBatchId("ab/c").message()).find("character 3"), std::string::npos);
}

// Walks every route of the endpoint table: each fixed word of each path is
// refused as an id in every letter case, so a route added to the table can
// never be reached through a caller's id.
TEST(BatchId, EveryFixedWordOfEveryRouteIsRefused) {
  int words_checked = 0;
  for (const upstream::EndpointInfo& row : upstream::AllEndpoints()) {
    for (absl::string_view part : absl::StrSplit(row.path, '/', absl::SkipEmpty())) {
      if (part.front() == '{') continue;
      const std::string word(part);
      const std::string upper = absl::AsciiStrToUpper(word);
      std::string mixed = word;
      mixed[0] = absl::ascii_toupper(mixed[0]);
      for (const std::string& id : {word, upper, mixed}) {
        absl::Status s = ValidateBatchId(id);
        ASSERT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << row.name << ": " << id;
        EXPECT_EQ(ReasonOf(s), "INVALID_BATCH_ID");
        EXPECT_NE(std::string(s.message()).find("fixed word"), std::string::npos) << s.message();
        auto bad = GetDetail<google::rpc::BadRequest>(s);
        ASSERT_TRUE(bad.has_value());
        EXPECT_EQ(bad->field_violations(0).field(), "batch_id");
        EXPECT_EQ(ValidateIdSegment(id, "search", "INVALID_NAME").code(),
                  absl::StatusCode::kInvalidArgument);
        EXPECT_FALSE(ParseBatchName("batches/" + id, "name").ok()) << id;
      }
      ++words_checked;
    }
  }
  EXPECT_GE(words_checked, 30);
  for (const char* word : {"stopall", "clear", "searches", "start", "stop", "results", "account",
                           "batches", "json", "csv", "jsonlines", "resendwebhook"}) {
    EXPECT_TRUE(upstream::IsRouteWord(word)) << word;
  }
  // Ids that merely contain a word are ids.
  for (const char* id : {"stopall1", "STOPX", "clearing", "9E867FAA"}) {
    EXPECT_TRUE(ValidateBatchId(id).ok()) << id;
  }
}

TEST(BatchId, TheRouteWordListIsExactlyTheTablesFixedSegments) {
  std::vector<std::string> seen;
  for (const upstream::EndpointInfo& row : upstream::AllEndpoints()) {
    for (absl::string_view part : absl::StrSplit(row.path, '/', absl::SkipEmpty())) {
      if (part.front() != '{') seen.emplace_back(absl::AsciiStrToLower(part));
    }
  }
  for (const std::string& word : upstream::RouteWords()) {
    EXPECT_NE(std::find(seen.begin(), seen.end(), word), seen.end()) << word;
  }
  for (const std::string& word : seen) EXPECT_TRUE(upstream::IsRouteWord(word)) << word;
}

TEST(BatchName, ParsesTheFullFormOnly) {
  absl::StatusOr<std::string> id = ParseBatchName("batches/9E867FAA", "name");
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(*id, "9E867FAA");
  for (const std::string& name :
       {std::string(""), std::string("9E867FAA"), std::string("batches/"),
        std::string("batches/a/b"), std::string("Batches/9E867FAA"),
        std::string("batches/X:unknownVerb"), std::string("batches/") + std::string(65, 'A'),
        std::string("/batches/9E867FAA"), std::string("batches/stopall")}) {
    absl::StatusOr<std::string> r = ParseBatchName(name, "name");
    ASSERT_FALSE(r.ok()) << name;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(ReasonOf(r.status()), "INVALID_NAME");
    auto bad = GetDetail<google::rpc::BadRequest>(r.status());
    ASSERT_TRUE(bad.has_value());
    EXPECT_EQ(bad->field_violations(0).field(), "name");
  }
  EXPECT_NE(
      std::string(ParseBatchName("9E867FAA", "name").status().message()).find("batches/9E867FAA"),
      std::string::npos);
}

}  // namespace
}  // namespace serpwow::logic
