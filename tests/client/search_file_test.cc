// The searches file of `batchctl searches add -f`: CSV, JSON Lines and JSON,
// and the errors that name the line.
#include "client/search_file.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/strings/match.h"

namespace serpwow::client {
namespace {

namespace v1 = serpwow::batches::v1;

std::vector<v1::Search> Parse(const std::string& text, SearchFileFormat format) {
  absl::StatusOr<std::vector<v1::Search>> out = ParseSearches(text, format, "f");
  EXPECT_TRUE(out.ok()) << out.status();
  return out.ok() ? *out : std::vector<v1::Search>{};
}

std::string Error(const std::string& text, SearchFileFormat format) {
  absl::StatusOr<std::vector<v1::Search>> out = ParseSearches(text, format, "searches.csv");
  EXPECT_FALSE(out.ok());
  return out.ok() ? "" : std::string(out.status().message());
}

TEST(SearchFile, CsvHeaderNamesTheFieldsAndOtherColumnsAreParams) {
  const auto searches = Parse(
      "q,location,max_page,include_html,gl,custom_id\r\n"
      "pizza,\"New York,NY,United States\",2,true,us,p1\r\n"
      "\"say \"\"hi\"\"\",,,,,\n"
      "\n"
      "coffee,Paris,,false,fr,\n",
      SearchFileFormat::kCsv);
  ASSERT_EQ(searches.size(), 3u);
  EXPECT_EQ(searches[0].q(), "pizza");
  EXPECT_EQ(searches[0].location(), "New York,NY,United States");
  EXPECT_EQ(searches[0].max_page(), 2);
  EXPECT_TRUE(searches[0].include_html());
  EXPECT_EQ(searches[0].params().at("gl"), "us");
  EXPECT_EQ(searches[0].custom_id(), "p1");
  EXPECT_EQ(searches[1].q(), "say \"hi\"");
  EXPECT_FALSE(searches[1].has_max_page());  // an empty cell leaves it unset
  EXPECT_TRUE(searches[1].params().empty());
  EXPECT_EQ(searches[2].location(), "Paris");
  EXPECT_FALSE(searches[2].include_html());
  EXPECT_TRUE(searches[2].has_include_html());
}

TEST(SearchFile, CsvQuotedCellsMayHoldLineBreaks) {
  const auto searches = Parse("q,hl\n\"two\nlines\",en\nnext,de\n", SearchFileFormat::kCsv);
  ASSERT_EQ(searches.size(), 2u);
  EXPECT_EQ(searches[0].q(), "two\nlines");
  EXPECT_EQ(searches[1].params().at("hl"), "de");
}

TEST(SearchFile, CsvErrorsNameTheLine) {
  EXPECT_EQ(Error("q,max_page\npizza,1\ncoffee,x\n", SearchFileFormat::kCsv),
            "searches.csv line 3: max_page \"x\" is not a positive number");
  EXPECT_EQ(Error("q\na,b\n", SearchFileFormat::kCsv),
            "searches.csv line 2: 2 cells for 1 columns");
  EXPECT_EQ(Error("q,\"open\nx\n", SearchFileFormat::kCsv),
            "searches.csv line 1: a quoted cell is not closed");
  EXPECT_EQ(Error("", SearchFileFormat::kCsv), "searches.csv: no header row");
}

TEST(SearchFile, ApiKeyIsRefusedInEveryFormat) {
  EXPECT_TRUE(absl::StrContains(Error("q,API_KEY\na,secret\n", SearchFileFormat::kCsv),
                                "api_key may not be a search parameter"));
  EXPECT_TRUE(absl::StrContains(
      Error("{\"q\":\"a\",\"api_key\":\"secret\"}\n", SearchFileFormat::kJsonLines), "line 1"));
  const std::string json = Error("[{\"q\":\"a\",\"api_key\":\"secret\"}]", SearchFileFormat::kJson);
  EXPECT_TRUE(absl::StrContains(json, "item 1: api_key")) << json;
  EXPECT_FALSE(absl::StrContains(json, "secret"));
}

TEST(SearchFile, JsonLinesAndJson) {
  const auto lines = Parse(
      "{\"q\":\"pizza\",\"max_page\":3,\"include_html\":false,\"device\":\"mobile\"}\n\n"
      "{\"q\":\"tea\",\"num\":10,\"extra\":{\"a\":1}}\n",
      SearchFileFormat::kJsonLines);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0].max_page(), 3);
  EXPECT_EQ(lines[0].params().at("device"), "mobile");
  EXPECT_EQ(lines[1].params().at("num"), "10");
  EXPECT_EQ(lines[1].params().at("extra"), "{\"a\":1}");

  EXPECT_EQ(Parse("[{\"q\":\"a\"},{\"q\":\"b\"}]", SearchFileFormat::kJson).size(), 2u);
  const auto wrapped =
      Parse("{\"searches\":[{\"q\":\"a\",\"location\":\"Rome\"}]}", SearchFileFormat::kJson);
  ASSERT_EQ(wrapped.size(), 1u);
  EXPECT_EQ(wrapped[0].location(), "Rome");
  EXPECT_EQ(Error("{\"q\":1", SearchFileFormat::kJsonLines), "searches.csv line 1: not JSON");
  EXPECT_EQ(Error("{}", SearchFileFormat::kJson),
            "searches.csv: expected an array of searches or {\"searches\": [...]}");
}

TEST(SearchFile, FormatByExtension) {
  EXPECT_EQ(*SearchFileFormatOf("a/b.CSV"), SearchFileFormat::kCsv);
  EXPECT_EQ(*SearchFileFormatOf("x.jsonl"), SearchFileFormat::kJsonLines);
  EXPECT_EQ(*SearchFileFormatOf("x.ndjson"), SearchFileFormat::kJsonLines);
  EXPECT_EQ(*SearchFileFormatOf("x.json"), SearchFileFormat::kJson);
  EXPECT_FALSE(SearchFileFormatOf("x.txt").ok());
}

TEST(SearchFile, FilterLiteralEscapes) {
  EXPECT_EQ(FilterLiteral("pizza"), "\"pizza\"");
  EXPECT_EQ(FilterLiteral("a \"b\" \\c"), "\"a \\\"b\\\" \\\\c\"");
}

}  // namespace
}  // namespace serpwow::client
