#include "server/logic/batch_id.h"

#include <gtest/gtest.h>

#include <string>

#include "server/logic/errors.h"

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

}  // namespace
}  // namespace serpwow::logic
