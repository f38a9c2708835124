// The download-link check (server/logic/download_links.h): what passes, what
// is refused, and that no refusal carries the URL.
#include "server/logic/download_links.h"

#include <gtest/gtest.h>

#include <string>

#include "absl/strings/match.h"
#include "server/logic/batch_id.h"
#include "server/logic/errors.h"
#include "server/logic/result_sets.h"

namespace serpwow::logic {
namespace {

constexpr char kKey[] = "K3y+Secret/99";

TEST(DownloadLinkPolicyTest, DefaultsFollowTheUpstreamsDomain) {
  DownloadLinkPolicy p = MakeDownloadLinkPolicy("https://api.serpwow.com/live", {});
  EXPECT_EQ(p.https_hosts, (std::vector<std::string>{"results.serpwow.com", "searches.serpwow.com",
                                                     "api.serpwow.com"}));
  EXPECT_TRUE(p.plain_http_origins.empty());
  p = MakeDownloadLinkPolicy("https://api.scaleserp.com", {"Files.Example.com", ".cdn.example"});
  EXPECT_EQ(p.https_hosts,
            (std::vector<std::string>{"files.example.com", ".cdn.example", "api.scaleserp.com"}));
  p = MakeDownloadLinkPolicy("http://127.0.0.1:4567/live", {});
  EXPECT_EQ(p.plain_http_origins, (std::vector<std::string>{"http://127.0.0.1:4567"}));
  EXPECT_EQ(p.https_hosts.back(), "127.0.0.1");
}

TEST(DownloadLinkTest, AcceptsHttpsOnExpectedHostsAndTheSimulatorsOrigin) {
  const DownloadLinkPolicy serpwow = MakeDownloadLinkPolicy("https://api.serpwow.com/live", {});
  for (const char* url :
       {"https://results.serpwow.com/9E867FAA_4_Page_1.json", "HTTPS://Results.SerpWow.com/x.zip",
        "https://searches.serpwow.com:443/a", "https://results.serpwow.com/a?expires=1&sig=abc"}) {
    EXPECT_TRUE(CheckDownloadLink(url, serpwow, kKey, "B").ok()) << url;
  }
  const DownloadLinkPolicy sim = MakeDownloadLinkPolicy("http://127.0.0.1:4567/live", {});
  EXPECT_TRUE(CheckDownloadLink("http://127.0.0.1:4567/files/B/x.json", sim, kKey, "B").ok());
  const DownloadLinkPolicy wildcard =
      MakeDownloadLinkPolicy("https://api.serpwow.com/live", {".cdn.example"});
  EXPECT_TRUE(CheckDownloadLink("https://eu.cdn.example/f", wildcard, kKey, "B").ok());
  EXPECT_FALSE(CheckDownloadLink("https://cdn.example/f", wildcard, kKey, "B").ok());
}

TEST(DownloadLinkTest, RefusesEverythingElseWithoutEchoingTheUrl) {
  const DownloadLinkPolicy serpwow = MakeDownloadLinkPolicy("https://api.serpwow.com/live", {});
  const DownloadLinkPolicy sim = MakeDownloadLinkPolicy("http://127.0.0.1:4567/live", {});
  struct Case {
    const char* url;
    const DownloadLinkPolicy* policy;
  };
  const std::string with_key = std::string("https://results.serpwow.com/a?k=") + kKey;
  const std::string with_encoded_key = "https://results.serpwow.com/a/K3y%2BSecret%2F99";
  for (const Case& c : {
           Case{"http://results.serpwow.com/a", &serpwow},  // not https
           Case{"https://evil.example/a", &serpwow},        // another host
           Case{"https://results.serpwow.com.evil.example/a", &serpwow},
           Case{"https://evilresults.serpwow.com/a", &serpwow},
           Case{"https://user@results.serpwow.com/a", &serpwow},  // user info
           Case{"https://results.serpwow.com:x/a", &serpwow},     // bad port
           Case{"https://[::1]/a", &serpwow},
           Case{"ftp://results.serpwow.com/a", &serpwow},
           Case{"//results.serpwow.com/a", &serpwow},
           Case{"", &serpwow},
           Case{"https://results.serpwow.com/a b", &serpwow},  // whitespace
           Case{"https://results.serpwow.com/a\\b", &serpwow},
           Case{"https://results.serpwow.com/\xC3\xA9", &serpwow},
           Case{"https://results.serpwow.com/a?api_key=abc", &serpwow},
           Case{"https://results.serpwow.com/a?API_KEY=abc", &serpwow},
           Case{"https://results.serpwow.com/a?api%5Fkey=abc", &serpwow},
           Case{"https://results.serpwow.com/a?api%255Fkey=abc", &serpwow},
           Case{"https://results.serpwow.com/a?x=[redacted]", &serpwow},
           Case{with_key.c_str(), &serpwow},
           Case{with_encoded_key.c_str(), &serpwow},
           Case{"http://127.0.0.1:4568/files/a", &sim},  // another port
           Case{"http://localhost:4567/files/a", &sim},
           Case{"http://127.0.0.1:4567/files/a?api_key=x", &sim},
       }) {
    const absl::Status s = CheckDownloadLink(c.url, *c.policy, kKey, "B1");
    EXPECT_EQ(s.code(), absl::StatusCode::kInternal) << c.url;
    EXPECT_EQ(ReasonOf(s), reason::kUnsafeDownloadLink) << c.url;
    if (c.url[0] != '\0') {
      EXPECT_FALSE(absl::StrContains(s.ToString(), c.url)) << s;
    }
    EXPECT_FALSE(absl::StrContains(s.ToString(), "K3y")) << s;
  }
}

TEST(DownloadLinkTest, EveryLinkOfASetIsChecked) {
  const DownloadLinkPolicy p = MakeDownloadLinkPolicy("https://api.serpwow.com/live", {});
  serpwow::batches::v1::DownloadLinks links;
  links.add_page_uris("https://results.serpwow.com/1.json");
  EXPECT_TRUE(CheckDownloadLinks(links, p, kKey, "B").ok());
  links.set_all_pages_uri("https://elsewhere.example/all.zip");
  EXPECT_EQ(ReasonOf(CheckDownloadLinks(links, p, kKey, "B")), reason::kUnsafeDownloadLink);
  links.clear_all_pages_uri();
  links.add_page_uris("http://results.serpwow.com/2.json");
  EXPECT_EQ(ReasonOf(CheckDownloadLinks(links, p, kKey, "B")), reason::kUnsafeDownloadLink);
}

TEST(ResultSetNameTest, AcceptsCanonicalIdsOnly) {
  absl::StatusOr<ResultSetName> ok = ParseResultSetName("batches/9E867FAA/resultSets/12", "name");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->batch_id, "9E867FAA");
  EXPECT_EQ(ok->result_set_id, "12");
  EXPECT_TRUE(ParseResultSetName("batches/B/resultSets/2147483647", "name").ok());
  for (const char* name :
       {"", "batches/B/resultSets/0", "batches/B/resultSets/01", "batches/B/resultSets/-1",
        "batches/B/resultSets/2147483648", "batches/B/resultSets/", "batches/B/resultSets/1/x",
        "batches/B/resultSets/1a", "batches/stopall/resultSets/1", "batches//resultSets/1",
        "batches/a/b/resultSets/1", "B/resultSets/1", "batches/B/resultsets/1", "12"}) {
    absl::StatusOr<ResultSetName> r = ParseResultSetName(name, "name");
    ASSERT_FALSE(r.ok()) << name;
    EXPECT_EQ(ReasonOf(r.status()), reason::kInvalidName) << name;
    auto bad = GetDetail<google::rpc::BadRequest>(r.status());
    ASSERT_TRUE(bad.has_value()) << name;
    EXPECT_EQ(bad->field_violations(0).field(), "name");
  }
}

TEST(CsvFieldsTest, CharactersCountAndFormat) {
  using serpwow::batches::v1::EXPORT_FORMAT_CSV;
  using serpwow::batches::v1::EXPORT_FORMAT_JSON;
  EXPECT_TRUE(
      ValidateCsvFields({"organic_results.position", "search.q", "A_9"}, EXPORT_FORMAT_CSV).ok());
  EXPECT_TRUE(ValidateCsvFields({}, EXPORT_FORMAT_JSON).ok());
  auto field_of = [](const absl::Status& s) {
    auto bad = GetDetail<google::rpc::BadRequest>(s);
    return bad ? bad->field_violations(0).field() : std::string("none");
  };
  absl::Status s = ValidateCsvFields({"ok", "bad,comma"}, EXPORT_FORMAT_CSV);
  EXPECT_EQ(ReasonOf(s), reason::kInvalidField);
  EXPECT_EQ(field_of(s), "csv_fields[1]");
  EXPECT_EQ(field_of(ValidateCsvFields({""}, EXPORT_FORMAT_CSV)), "csv_fields[0]");
  EXPECT_EQ(field_of(ValidateCsvFields({"a&api_key=x"}, EXPORT_FORMAT_CSV)), "csv_fields[0]");
  EXPECT_EQ(field_of(ValidateCsvFields(std::vector<std::string>(101, "a"), EXPORT_FORMAT_CSV)),
            "csv_fields");
  EXPECT_TRUE(ValidateCsvFields(std::vector<std::string>(100, "a"), EXPORT_FORMAT_CSV).ok());
  EXPECT_EQ(field_of(ValidateCsvFields({"a"}, EXPORT_FORMAT_JSON)), "csv_fields");
}

}  // namespace
}  // namespace serpwow::logic
