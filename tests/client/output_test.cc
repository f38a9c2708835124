// batchctl's output helpers (client/output.h), without a server.
#include "client/output.h"

#include <gtest/gtest.h>

#include "serpwow/batches/v1/resources.pb.h"

namespace serpwow::client {
namespace {

Table Sample() {
  Table table({{"ID"}, {"NAME", true}, {"STATUS"}});
  table.AddRow({"9E867FAA", "A rather long display name", "queued"});
  table.AddRow({"DEMOIDLE", "short\tname", "idle"});
  return table;
}

TEST(Table, PipedIsTabSeparatedWithoutHeaderAndNothingCut) {
  EXPECT_EQ(Sample().Render(Terminal{false, 20}, false),
            "9E867FAA\tA rather long display name\tqueued\n"
            "DEMOIDLE\tshort name\tidle\n");
}

TEST(Table, OnATerminalColumnsAlignAndOnlyFlexibleOnesShrink) {
  EXPECT_EQ(Sample().Render(Terminal{true, 200}, false),
            "ID         NAME                         STATUS\n"
            "9E867FAA   A rather long display name   queued\n"
            "DEMOIDLE   short name                   idle\n");
  // 30 columns: ID (8) + 3 + NAME + 3 + STATUS (6) leaves 10 for NAME.
  EXPECT_EQ(Sample().Render(Terminal{true, 30}, true),
            "9E867FAA   A rather \u2026   queued\n"
            "DEMOIDLE   short name   idle\n");
  // Never below 8 characters, even when the line then is too wide.
  EXPECT_EQ(Sample().Render(Terminal{true, 20}, true),
            "9E867FAA   A rathe\u2026   queued\n"
            "DEMOIDLE   short n\u2026   idle\n");
}

TEST(CutToWidth, CountsCharactersNotBytes) {
  EXPECT_EQ(CutToWidth("abc", 3), "abc");
  EXPECT_EQ(CutToWidth("abcd", 3), "ab\u2026");
  EXPECT_EQ(CutToWidth("\u00e9\u00e9\u00e9\u00e9", 3), "\u00e9\u00e9\u2026");
  EXPECT_EQ(CutToWidth("abc", 0), "");
}

TEST(Age, LargestUnitRoundedDown) {
  EXPECT_EQ(Age(absl::Seconds(45)), "45s");
  EXPECT_EQ(Age(absl::Seconds(12 * 60 + 59)), "12m");
  EXPECT_EQ(Age(absl::Hours(5)), "5h");
  EXPECT_EQ(Age(absl::Hours(24 * 3 + 23)), "3d");
  EXPECT_EQ(Age(absl::Hours(24 * 800)), "2y");
  EXPECT_EQ(Age(absl::Seconds(-5)), "0s");
}

TEST(ParseFormat, KnownNamesOnly) {
  EXPECT_EQ(*ParseFormat(""), Format::kTable);
  EXPECT_EQ(*ParseFormat("wide"), Format::kWide);
  EXPECT_EQ(*ParseFormat("jsonl"), Format::kJsonl);
  EXPECT_EQ(*ParseFormat("name"), Format::kName);
  EXPECT_FALSE(ParseFormat("yaml").ok());
  EXPECT_FALSE(ParseFormat("JSON").ok());
}

TEST(PrintMessages, JsonArrayJsonLinesAndNames) {
  serpwow::batches::v1::Batch a, b;
  a.set_name("batches/A");
  b.set_name("batches/B");
  std::vector<const google::protobuf::Message*> both = {&a, &b};
  EXPECT_EQ(PrintMessages(both, Format::kName, true), "batches/A\nbatches/B\n");
  const std::string lines = PrintMessages(both, Format::kJsonl, true);
  EXPECT_EQ(std::count(lines.begin(), lines.end(), '\n'), 2);
  const std::string array = PrintMessages(both, Format::kJson, true);
  EXPECT_EQ(array.front(), '[');
  EXPECT_EQ(array.substr(array.size() - 2), "]\n");
  EXPECT_EQ(PrintMessages({}, Format::kJson, true), "[]\n");
  const std::string one = PrintMessages({&a}, Format::kJson, false);
  EXPECT_EQ(one.front(), '{');
}

}  // namespace
}  // namespace serpwow::client
