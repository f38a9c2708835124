// The account, result set and search mappers (server/logic/resource_mapping.h),
// table by table: every documented field, the lenient spellings, unknown and
// unreadable values kept aside, api_key dropped, bad ids refused.
#include "server/logic/resource_mapping.h"

#include <gtest/gtest.h>

#include <string>

#include "google/protobuf/util/time_util.h"
#include "nlohmann/json.hpp"
#include "server/logic/errors.h"
#include "server/logic/json_values.h"

namespace serpwow::logic {
namespace {

namespace v1 = serpwow::batches::v1;
using google::protobuf::util::TimeUtil;
using Json = nlohmann::json;

TEST(MapAccountTest, MapsEveryFigureAndKeepsTheRestAside) {
  const Json object = Json::parse(R"({
    "credits_remaining": -5, "credits_used": "120", "credits_limit": 1000.0,
    "credits_reset_at": "2026-01-01T00:00:00.000Z", "topup_credits_remaining": 7,
    "batches_used": 3, "batches_limit": 10000, "batches_available": 9997,
    "destinations_used": 0, "destinations_limit": 50, "destinations_available": 50,
    "plan": "pro", "api_key": "[redacted]", "overage_enabled": null,
    "batches_limit_extra": {"a": 1}})");
  v1::Account a;
  ASSERT_TRUE(MapAccount(object, &a).ok());
  EXPECT_EQ(a.name(), "account");
  EXPECT_EQ(a.credits_remaining(), -5);
  EXPECT_EQ(a.credits_used(), 120);
  EXPECT_EQ(a.credits_limit(), 1000);
  EXPECT_EQ(TimeUtil::ToString(a.credits_reset_time()), "2026-01-01T00:00:00Z");
  EXPECT_EQ(a.topup_credits_remaining(), 7);
  EXPECT_EQ(a.batches_used(), 3);
  EXPECT_EQ(a.batches_limit(), 10000);
  EXPECT_EQ(a.batches_available(), 9997);
  EXPECT_EQ(a.destinations_used(), 0);
  EXPECT_TRUE(a.has_destinations_used());
  EXPECT_EQ(a.destinations_limit(), 50);
  EXPECT_EQ(a.destinations_available(), 50);
  EXPECT_EQ(a.other_fields().at("plan"), "\"pro\"");
  EXPECT_EQ(a.other_fields().at("batches_limit_extra"), "{\"a\":1}");
  EXPECT_EQ(a.other_fields().count("api_key"), 0u) << "the account's key is never passed on";
  EXPECT_EQ(a.other_fields().count("overage_enabled"), 0u) << "null is absent";
}

TEST(MapAccountTest, AbsentFiguresStayUnsetAndUnreadableOnesGoAside) {
  v1::Account a;
  ASSERT_TRUE(
      MapAccount(Json::parse(R"({"credits_remaining": "lots", "batches_used": 2})"), &a).ok());
  EXPECT_FALSE(a.has_credits_remaining());
  EXPECT_FALSE(a.has_credits_limit());
  EXPECT_FALSE(a.has_credits_reset_time());
  EXPECT_FALSE(a.has_destinations_limit());
  EXPECT_EQ(a.batches_used(), 2);
  EXPECT_EQ(a.other_fields().at("credits_remaining"), "\"lots\"");
}

TEST(MapAccountTest, NotAnObjectIsABadResponse) {
  for (const char* text : {"[]", "1", "\"x\"", "null"}) {
    v1::Account a;
    a.set_name("stale");
    const absl::Status s = MapAccount(Json::parse(text), &a);
    EXPECT_EQ(s.code(), absl::StatusCode::kInternal) << text;
    EXPECT_EQ(ReasonOf(s), reason::kUpstreamBadResponse) << text;
    EXPECT_EQ(a.ByteSizeLong(), 0u) << text;
  }
}

constexpr char kResultSet[] = R"({
  "id": 4, "started_at": "2026-01-01T10:00:00.000Z", "ended_at": "2026-01-01T10:05:00Z",
  "expires_at": "2026-01-15T10:05:00+00:00", "results_page_count": 1,
  "searches_completed": "9", "searches_failed": 1, "searches_total": 10,
  "webhook_status": {"status": "ok", "log": [{"date_time": "2026-01-01T10:05:01Z",
                                               "text": "sent\u0007"}]},
  "destination_status": {"D1": {"status": "failed", "log": [{"text": "denied"}]}},
  "download_links": {"pages": ["https://results.serpwow.com/a_Page_1.json", 5],
                     "all_pages": "https://results.serpwow.com/a_All_Pages.zip"},
  "surprise": [1, 2]})";

TEST(MapResultSetTest, MapsEveryDocumentedField) {
  v1::ResultSet r;
  ASSERT_TRUE(MapResultSet(Json::parse(kResultSet), "B1", &r).ok());
  EXPECT_EQ(r.name(), "batches/B1/resultSets/4");
  EXPECT_EQ(r.result_set_id(), 4);
  EXPECT_EQ(TimeUtil::ToString(r.start_time()), "2026-01-01T10:00:00Z");
  EXPECT_EQ(TimeUtil::ToString(r.end_time()), "2026-01-01T10:05:00Z");
  EXPECT_EQ(TimeUtil::ToString(r.expire_time()), "2026-01-15T10:05:00Z");
  EXPECT_EQ(r.results_page_count(), 1);
  EXPECT_EQ(r.searches_completed(), 9);
  EXPECT_EQ(r.searches_failed(), 1);
  EXPECT_EQ(r.searches_total(), 10);
  EXPECT_EQ(r.webhook_status().status(), "ok");
  ASSERT_EQ(r.webhook_status().log_size(), 1);
  EXPECT_EQ(r.webhook_status().log(0).text(), "sent") << "control characters are cleaned";
  EXPECT_EQ(TimeUtil::ToString(r.webhook_status().log(0).time()), "2026-01-01T10:05:01Z");
  ASSERT_EQ(r.destination_status().count("D1"), 1u);
  EXPECT_EQ(r.destination_status().at("D1").status(), "failed");
  EXPECT_EQ(r.destination_status().at("D1").log(0).text(), "denied");
  ASSERT_EQ(r.download_links().page_uris_size(), 1) << "a page that is not a string is dropped";
  EXPECT_EQ(r.download_links().page_uris(0), "https://results.serpwow.com/a_Page_1.json");
  EXPECT_EQ(r.download_links().all_pages_uri(), "https://results.serpwow.com/a_All_Pages.zip");
  EXPECT_EQ(r.other_fields().at("surprise"), "[1,2]");
}

TEST(MapResultSetTest, IdsMustBePositiveInt32s) {
  struct Case {
    const char* id;
    bool ok;
  };
  for (const Case& c :
       {Case{"1", true}, Case{"\"7\"", true}, Case{"2147483647", true}, Case{"0", false},
        Case{"-1", false}, Case{"\"01\"", false}, Case{"2147483648", false}, Case{"1.5", false},
        Case{"\"x\"", false}, Case{"null", false}, Case{"[1]", false}}) {
    v1::ResultSet r;
    const absl::Status s =
        MapResultSet(Json::parse(std::string(R"({"id":)") + c.id + "}"), "B", &r);
    EXPECT_EQ(s.ok(), c.ok) << c.id;
    if (!s.ok()) {
      EXPECT_EQ(ReasonOf(s), reason::kUpstreamBadResponse);
      EXPECT_EQ(r.ByteSizeLong(), 0u);
    }
  }
}

TEST(MapResultSetTest, UnreadableValuesGoAside) {
  v1::ResultSet r;
  ASSERT_TRUE(MapResultSet(Json::parse(R"({"id":1,"searches_total":-3,"started_at":"yesterday",
      "webhook_status":"ok","download_links":{"pages":"x"}})"),
                           "B", &r)
                  .ok());
  EXPECT_EQ(r.searches_total(), 0);
  EXPECT_FALSE(r.has_start_time());
  EXPECT_FALSE(r.has_webhook_status());
  EXPECT_EQ(r.other_fields().at("searches_total"), "-3");
  EXPECT_EQ(r.other_fields().at("started_at"), "\"yesterday\"");
  EXPECT_EQ(r.other_fields().at("webhook_status"), "\"ok\"");
  EXPECT_EQ(r.other_fields().at("download_links"), "{\"pages\":\"x\"}");
}

TEST(MapSearchTest, MapsTypedFieldsAndTheLongTailAsParams) {
  v1::Search s;
  ASSERT_TRUE(MapSearch(Json::parse(R"({"id":"ABCDEFGHIJKLMNOP","custom_id":"c1","q":"pizza",
      "location":"Paris","search_type":"places","include_html":"true","max_page":"2",
      "gl":"fr","num":10,"safe":false,"nested":{"a":[1]},"api_key":"x","empty":null})"),
                        "B1", &s)
                  .ok());
  EXPECT_EQ(s.name(), "batches/B1/searches/ABCDEFGHIJKLMNOP");
  EXPECT_EQ(s.search_id(), "ABCDEFGHIJKLMNOP");
  EXPECT_EQ(s.custom_id(), "c1");
  EXPECT_EQ(s.q(), "pizza");
  EXPECT_EQ(s.location(), "Paris");
  EXPECT_EQ(s.search_type(), "places");
  EXPECT_TRUE(s.has_include_html() && s.include_html());
  EXPECT_EQ(s.max_page(), 2);
  EXPECT_EQ(s.params().at("gl"), "fr");
  EXPECT_EQ(s.params().at("num"), "10");
  EXPECT_EQ(s.params().at("safe"), "false");
  EXPECT_EQ(s.params().at("nested"), "{\"a\":[1]}");
  EXPECT_EQ(s.params().count("api_key"), 0u);
  EXPECT_EQ(s.params().count("empty"), 0u);
  EXPECT_EQ(s.params().size(), 4u);
}

TEST(MapSearchTest, IdsFollowTheIdRule) {
  for (const char* id : {R"("")", R"("stopall")", R"("a/b")", R"(12)", R"(null)", R"("x y")"}) {
    v1::Search s;
    const absl::Status st = MapSearch(Json::parse(std::string(R"({"id":)") + id + "}"), "B", &s);
    EXPECT_EQ(ReasonOf(st), reason::kUpstreamBadResponse) << id;
    EXPECT_EQ(s.ByteSizeLong(), 0u) << id;
  }
  v1::Search s;
  EXPECT_FALSE(MapSearch(Json::parse("[]"), "B", &s).ok());
}

TEST(MapSearchTest, ParamsAreCapped) {
  Json object = {{"id", "S1"}};
  for (int i = 0; i < 200; ++i) object["p" + std::to_string(i)] = std::string(5000, 'v');
  v1::Search s;
  ASSERT_TRUE(MapSearch(object, "B", &s).ok());
  EXPECT_EQ(s.params().size(), kMaxOtherFields);
  for (const auto& [key, value] : s.params()) EXPECT_LE(value.size(), kMaxOtherFieldBytes) << key;
}

}  // namespace
}  // namespace serpwow::logic
