// MapBatch (server/logic/batch_mapping.h): SerpWow batch JSON -> v1.Batch.
#include "server/logic/batch_mapping.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "common/utf8.h"
#include "nlohmann/json.hpp"
#include "server/logic/errors.h"

namespace serpwow::logic {
namespace {

namespace v1 = serpwow::batches::v1;
using Json = nlohmann::json;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

constexpr char kNoValidId[] = "the batch in SerpWow's reply has no valid id";

// Maps {"id": "9E867FAA"} plus `fields` (a JSON object's text); fails the
// test when the mapping fails.
v1::Batch Map(const std::string& fields) {
  Json object = Json::parse(fields);
  object["id"] = "9E867FAA";
  v1::Batch batch;
  const absl::Status status = MapBatch(object, &batch);
  EXPECT_TRUE(status.ok()) << status;
  return batch;
}

// The other_fields entry for `key`, or "<absent>".
std::string Other(const v1::Batch& batch, const std::string& key) {
  const auto it = batch.other_fields().find(key);
  return it == batch.other_fields().end() ? "<absent>" : it->second;
}

int64_t UnixSeconds(int year, int month, int day, int hour = 0, int minute = 0, int second = 0) {
  return absl::ToUnixSeconds(absl::FromCivil(
      absl::CivilSecond(year, month, day, hour, minute, second), absl::UTCTimeZone()));
}

// Well-formed UTF-8 (no overlong forms, surrogates or code points past
// U+10FFFF), checked independently of the code under test.

void ExpectNoValidId(const Json& object) {
  v1::Batch batch;
  batch.set_display_name("left over from before");
  const absl::Status status = MapBatch(object, &batch);
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal) << object.dump();
  EXPECT_EQ(status.message(), kNoValidId);
  EXPECT_EQ(ReasonOf(status), reason::kUpstreamBadResponse);
  EXPECT_EQ(batch.ByteSizeLong(), 0u) << "out must be left cleared: " << batch.DebugString();
}

TEST(MapBatchTest, IdOnly) {
  v1::Batch batch;
  ASSERT_TRUE(MapBatch(Json{{"id", "9E867FAA"}}, &batch).ok());
  EXPECT_EQ(batch.name(), "batches/9E867FAA");
  EXPECT_EQ(batch.batch_id(), "9E867FAA");
  EXPECT_EQ(batch.display_name(), "");
  EXPECT_FALSE(batch.has_enabled());
  EXPECT_FALSE(batch.has_schedule_type());
  EXPECT_FALSE(batch.has_priority());
  EXPECT_FALSE(batch.has_create_time());
  EXPECT_FALSE(batch.has_expire_time());
  EXPECT_EQ(batch.status(), v1::BATCH_STATUS_UNSPECIFIED);
  EXPECT_THAT(batch.other_fields(), IsEmpty());
}

TEST(MapBatchTest, OutIsClearedFirst) {
  v1::Batch batch;
  batch.set_display_name("stale");
  (*batch.mutable_other_fields())["stale"] = "1";
  ASSERT_TRUE(MapBatch(Json{{"id", "A"}}, &batch).ok());
  EXPECT_EQ(batch.display_name(), "");
  EXPECT_THAT(batch.other_fields(), IsEmpty());
}

TEST(MapBatchTest, InvalidIdIsAnErrorThatNeverEchoesTheInput) {
  ExpectNoValidId(Json::object());
  ExpectNoValidId(Json{{"id", nullptr}});
  ExpectNoValidId(Json{{"id", 123456}});
  ExpectNoValidId(Json{{"id", ""}});
  ExpectNoValidId(Json{{"id", "../etc/passwd"}});
  ExpectNoValidId(Json{{"id", "9E867FAA\n"}});
  ExpectNoValidId(Json{{"id", std::string(65, 'A')}});
  ExpectNoValidId(Json{{"id", Json::array({"9E867FAA"})}});
  ExpectNoValidId(Json{{"ID", "9E867FAA"}});
  // Not an object at all.
  ExpectNoValidId(Json());
  ExpectNoValidId(Json("9E867FAA"));
  ExpectNoValidId(Json::array({{{"id", "9E867FAA"}}}));
  ExpectNoValidId(Json(42));
}

TEST(MapBatchTest, DisplayName) {
  EXPECT_EQ(Map(R"({"name": "My Second Batch"})").display_name(), "My Second Batch");
  const v1::Batch batch = Map(R"({"name": 17})");
  EXPECT_EQ(batch.display_name(), "");
  EXPECT_EQ(Other(batch, "name"), "17");
}

TEST(MapBatchTest, Booleans) {
  for (const char* yes : {"true", "\"true\"", "\"TRUE\"", "\"True\"", "1", "\"1\""}) {
    const v1::Batch batch = Map(absl::StrCat(R"({"enabled": )", yes, "}"));
    ASSERT_TRUE(batch.has_enabled()) << yes;
    EXPECT_TRUE(batch.enabled()) << yes;
    EXPECT_THAT(batch.other_fields(), IsEmpty()) << yes;
  }
  for (const char* no : {"false", "\"false\"", "\"False\"", "0", "\"0\""}) {
    const v1::Batch batch = Map(absl::StrCat(R"({"enabled": )", no, "}"));
    ASSERT_TRUE(batch.has_enabled()) << no;
    EXPECT_FALSE(batch.enabled()) << no;
  }
  for (const char* bad :
       {"2", "-1", "1.0", "\"yes\"", "\"\"", "[]", "{}", "\" true\"", "\"2\"", "\"9\"", "\"10\""}) {
    const v1::Batch batch = Map(absl::StrCat(R"({"enabled": )", bad, "}"));
    EXPECT_FALSE(batch.has_enabled()) << bad;
    EXPECT_EQ(Other(batch, "enabled"), Json::parse(bad).dump()) << bad;
  }
  const v1::Batch all = Map(
      R"({"notification_as_json": true, "notification_as_jsonlines": "false",
          "notification_as_csv": 1, "searches_type_locked": "TRUE"})");
  EXPECT_TRUE(all.has_notification_as_json() && all.notification_as_json());
  EXPECT_TRUE(all.has_notification_as_jsonlines() && !all.notification_as_jsonlines());
  EXPECT_TRUE(all.has_notification_as_csv() && all.notification_as_csv());
  EXPECT_TRUE(all.searches_type_locked());
  EXPECT_THAT(all.other_fields(), IsEmpty());
  const v1::Batch bad = Map(R"({"notification_as_csv": "csv", "searches_type_locked": 7})");
  EXPECT_FALSE(bad.has_notification_as_csv());
  EXPECT_EQ(Other(bad, "notification_as_csv"), "\"csv\"");
  EXPECT_EQ(Other(bad, "searches_type_locked"), "7");
}

TEST(MapBatchTest, ScheduleType) {
  const std::vector<std::pair<std::string, v1::ScheduleType>> cases = {
      {"manual", v1::SCHEDULE_TYPE_MANUAL},
      {"Hourly", v1::SCHEDULE_TYPE_HOURLY},
      {"DAILY", v1::SCHEDULE_TYPE_DAILY},
      {"weekly", v1::SCHEDULE_TYPE_WEEKLY},
      {"mOnThLy", v1::SCHEDULE_TYPE_MONTHLY}};
  for (const auto& [word, want] : cases) {
    const v1::Batch batch = Map(Json{{"schedule_type", word}}.dump());
    ASSERT_TRUE(batch.has_schedule_type()) << word;
    EXPECT_EQ(batch.schedule_type(), want) << word;
  }
  for (const char* bad : {"\"fortnightly\"", "\"\"", "3", "[\"daily\"]"}) {
    const v1::Batch batch = Map(absl::StrCat(R"({"schedule_type": )", bad, "}"));
    EXPECT_FALSE(batch.has_schedule_type()) << bad;
    EXPECT_EQ(Other(batch, "schedule_type"), Json::parse(bad).dump()) << bad;
  }
}

TEST(MapBatchTest, ScheduleLists) {
  EXPECT_THAT(Map(R"({"schedule_hours": [9, 17]})").schedule_hours(), ElementsAre(9, 17));
  EXPECT_THAT(Map(R"({"schedule_hours": ["9", "17"]})").schedule_hours(), ElementsAre(9, 17));
  EXPECT_THAT(Map(R"({"schedule_hours": "9,17"})").schedule_hours(), ElementsAre(9, 17));
  EXPECT_THAT(Map(R"({"schedule_hours": " 9 , 17 "})").schedule_hours(), ElementsAre(9, 17));
  EXPECT_THAT(Map(R"({"schedule_hours": 9})").schedule_hours(), ElementsAre(9));
  EXPECT_THAT(Map(R"({"schedule_hours": "9"})").schedule_hours(), ElementsAre(9));
  EXPECT_THAT(Map(R"({"schedule_hours": [0, 23, 9.0]})").schedule_hours(), ElementsAre(0, 23, 9));
  for (const char* empty : {"[]", "\"\"", "\"  \""}) {
    const v1::Batch batch = Map(absl::StrCat(R"({"schedule_hours": )", empty, "}"));
    EXPECT_THAT(batch.schedule_hours(), IsEmpty()) << empty;
    EXPECT_THAT(batch.other_fields(), IsEmpty()) << empty;
  }
  EXPECT_THAT(Map(R"({"schedule_days_of_week": [0, 3, 6]})").schedule_days_of_week(),
              ElementsAre(0, 3, 6));
  EXPECT_THAT(Map(R"({"schedule_days_of_month": "1,15,31"})").schedule_days_of_month(),
              ElementsAre(1, 15, 31));

  // One bad value sends the whole list to other_fields.
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"schedule_hours", "[9,24]"},
      {"schedule_hours", "[-1]"},
      {"schedule_hours", "\"9,,17\""},
      {"schedule_hours", "\"9;17\""},
      {"schedule_hours", "[9.5]"},
      {"schedule_hours", "[[9]]"},
      {"schedule_hours", "[true]"},
      {"schedule_hours", "{\"a\":9}"},
      {"schedule_hours", "\"nine\""},
      {"schedule_hours", "99999999999999999999"},
      {"schedule_days_of_week", "[0,7]"},
      {"schedule_days_of_week", "\"-1\""},
      {"schedule_days_of_month", "[0]"},
      {"schedule_days_of_month", "[1,32]"},
      {"schedule_days_of_month", "\"31,\""},
      // Decimal strings above the range, including one digit above a
      // one-digit maximum.
      {"schedule_hours", "\"24\""},
      {"schedule_hours", "[\"99\"]"},
      {"schedule_days_of_week", "\"7\""},
      {"schedule_days_of_week", "[\"9\"]"},
      {"schedule_days_of_month", "\"32\""}};
  for (const auto& [key, value] : bad) {
    const v1::Batch batch = Map(absl::StrCat("{\"", key, "\": ", value, "}"));
    EXPECT_THAT(batch.schedule_hours(), IsEmpty()) << key << " " << value;
    EXPECT_THAT(batch.schedule_days_of_week(), IsEmpty()) << key << " " << value;
    EXPECT_THAT(batch.schedule_days_of_month(), IsEmpty()) << key << " " << value;
    EXPECT_EQ(Other(batch, key), Json::parse(value).dump()) << key << " " << value;
  }
}

TEST(MapBatchTest, Priority) {
  const std::vector<std::pair<std::string, v1::Priority>> words = {
      {"\"lowest\"", v1::PRIORITY_LOWEST},
      {"\"Low\"", v1::PRIORITY_LOW},
      {"\"NORMAL\"", v1::PRIORITY_NORMAL},
      {"\"high\"", v1::PRIORITY_HIGH},
      {"\"highest\"", v1::PRIORITY_HIGHEST},
      {"1", v1::PRIORITY_LOWEST},
      {"3", v1::PRIORITY_NORMAL},
      {"\"5\"", v1::PRIORITY_HIGHEST},
      {"4.0", v1::PRIORITY_HIGH}};
  for (const auto& [value, want] : words) {
    const v1::Batch batch = Map(absl::StrCat(R"({"priority": )", value, "}"));
    ASSERT_TRUE(batch.has_priority()) << value;
    EXPECT_EQ(batch.priority(), want) << value;
  }
  for (const char* bad :
       {"0", "6", "-3", "\"urgent\"", "\"\"", "true", "2.5", "\"6\"", "\"9\"", "\"0\""}) {
    const v1::Batch batch = Map(absl::StrCat(R"({"priority": )", bad, "}"));
    EXPECT_FALSE(batch.has_priority()) << bad;
    EXPECT_EQ(Other(batch, "priority"), Json::parse(bad).dump()) << bad;
  }
}

TEST(MapBatchTest, DestinationIds) {
  EXPECT_THAT(Map(R"({"destination_ids": ["ABCDEFG", "HIJ"]})").destination_ids(),
              ElementsAre("ABCDEFG", "HIJ"));
  EXPECT_THAT(Map(R"({"destination_ids": "ABCDEFG"})").destination_ids(), ElementsAre("ABCDEFG"));
  EXPECT_THAT(Map(R"({"destination_ids": "A, B,,C"})").destination_ids(),
              ElementsAre("A", "B", "C"));
  EXPECT_THAT(Map(R"({"destination_ids": []})").destination_ids(), IsEmpty());
  for (const char* bad : {"[1]", "[\"A\", null]", "7", "{\"A\": true}"}) {
    const v1::Batch batch = Map(absl::StrCat(R"({"destination_ids": )", bad, "}"));
    EXPECT_THAT(batch.destination_ids(), IsEmpty()) << bad;
    EXPECT_EQ(Other(batch, "destination_ids"), Json::parse(bad).dump()) << bad;
  }
}

TEST(MapBatchTest, Strings) {
  const v1::Batch batch = Map(
      R"({"notification_email": "ops@example.com",
          "notification_webhook": "https://example.com/hook", "searches_type": "mixed"})");
  EXPECT_EQ(batch.notification_email(), "ops@example.com");
  EXPECT_EQ(batch.notification_webhook(), "https://example.com/hook");
  EXPECT_EQ(batch.searches_type(), "mixed");
  EXPECT_THAT(batch.other_fields(), IsEmpty());
  const v1::Batch bad =
      Map(R"({"notification_email": false, "notification_webhook": ["x"], "searches_type": 1})");
  EXPECT_EQ(bad.notification_email(), "");
  EXPECT_EQ(Other(bad, "notification_email"), "false");
  EXPECT_EQ(Other(bad, "notification_webhook"), "[\"x\"]");
  EXPECT_EQ(Other(bad, "searches_type"), "1");
}

TEST(MapBatchTest, Status) {
  EXPECT_EQ(Map(R"({"status": "idle"})").status(), v1::BATCH_STATUS_IDLE);
  EXPECT_EQ(Map(R"({"status": "QUEUED"})").status(), v1::BATCH_STATUS_QUEUED);
  EXPECT_EQ(Map(R"({"status": "Running"})").status(), v1::BATCH_STATUS_RUNNING);
  for (const char* bad : {"\"paused\"", "\"\"", "2", "{}"}) {
    const v1::Batch batch = Map(absl::StrCat(R"({"status": )", bad, "}"));
    EXPECT_EQ(batch.status(), v1::BATCH_STATUS_UNSPECIFIED) << bad;
    EXPECT_EQ(Other(batch, "status"), Json::parse(bad).dump()) << bad;
  }
}

TEST(MapBatchTest, Timestamps) {
  const int64_t new_year = UnixSeconds(2020, 1, 1);
  for (const char* text :
       {"2020-01-01T00:00:00.000Z", "2020-01-01T00:00:00Z", "2020-01-01T02:00:00+02:00",
        "2020-01-01T02:00:00+0200", "2019-12-31T19:30:00-04:30", "2020-01-01t00:00:00z"}) {
    const v1::Batch batch = Map(Json{{"created_at", text}}.dump());
    ASSERT_TRUE(batch.has_create_time()) << text;
    EXPECT_EQ(batch.create_time().seconds(), new_year) << text;
    EXPECT_EQ(batch.create_time().nanos(), 0) << text;
    EXPECT_THAT(batch.other_fields(), IsEmpty()) << text;
  }
  const v1::Batch precise = Map(R"({"last_run": "2021-06-30T12:34:56.123456789Z"})");
  EXPECT_EQ(precise.last_run_time().seconds(), UnixSeconds(2021, 6, 30, 12, 34, 56));
  EXPECT_EQ(precise.last_run_time().nanos(), 123456789);
  const v1::Batch millis = Map(R"({"last_run": "2021-06-30T12:34:56.5Z"})");
  EXPECT_EQ(millis.last_run_time().nanos(), 500000000);
  // Before 1970: seconds negative, nanos still in [0, 1e9).
  const v1::Batch old = Map(R"({"created_at": "1969-12-31T23:59:59.250Z"})");
  EXPECT_EQ(old.create_time().seconds(), -1);
  EXPECT_EQ(old.create_time().nanos(), 250000000);

  for (const char* bad : {"\"2020-01-01\"", "\"2020-01-01T00:00:00\"", "\"yesterday\"", "\"\"",
                          "1577836800", "\"10000-01-01T00:00:00Z\"", "\"0000-12-31T00:00:00Z\"",
                          "\"2020-13-01T00:00:00Z\"", "\"2020-01-01T00:00:00Zjunk\""}) {
    const v1::Batch batch =
        Map(absl::StrCat(R"({"created_at": )", bad, R"(, "last_run": )", bad, "}"));
    EXPECT_FALSE(batch.has_create_time()) << bad;
    EXPECT_FALSE(batch.has_last_run_time()) << bad;
    EXPECT_FALSE(batch.has_expire_time()) << bad;
    EXPECT_EQ(Other(batch, "created_at"), Json::parse(bad).dump()) << bad;
    EXPECT_EQ(Other(batch, "last_run"), Json::parse(bad).dump()) << bad;
  }
  // Longer than any real timestamp.
  const v1::Batch padded =
      Map(Json{{"created_at", "2020-01-01T00:00:00." + std::string(80, '0') + "Z"}}.dump());
  EXPECT_FALSE(padded.has_create_time());
}

TEST(MapBatchTest, ExpireTimeIsTwoCalendarMonthsAfterTheLastRunElseCreation) {
  const v1::Batch created = Map(R"({"created_at": "2020-01-15T10:00:00.250Z"})");
  EXPECT_EQ(created.expire_time().seconds(), UnixSeconds(2020, 3, 15, 10));
  EXPECT_EQ(created.expire_time().nanos(), 250000000);

  const v1::Batch ran =
      Map(R"({"created_at": "2020-01-15T10:00:00Z", "last_run": "2020-11-30T08:00:00Z"})");
  EXPECT_EQ(ran.expire_time().seconds(), UnixSeconds(2021, 1, 30, 8));

  // The day is clamped to the end of the target month.
  EXPECT_EQ(Map(R"({"last_run": "2023-12-31T00:00:00Z"})").expire_time().seconds(),
            UnixSeconds(2024, 2, 29));
  EXPECT_EQ(Map(R"({"last_run": "2022-12-31T23:59:59Z"})").expire_time().seconds(),
            UnixSeconds(2023, 2, 28, 23, 59, 59));
  EXPECT_EQ(Map(R"({"last_run": "2021-08-31T00:00:00Z"})").expire_time().seconds(),
            UnixSeconds(2021, 10, 31));

  // An unreadable last_run falls back to the creation time.
  const v1::Batch fallback = Map(R"({"created_at": "2020-01-15T10:00:00Z", "last_run": "soon"})");
  EXPECT_EQ(fallback.expire_time().seconds(), UnixSeconds(2020, 3, 15, 10));

  // Beyond Timestamp's range: no estimate, but the creation time stays.
  const v1::Batch late = Map(R"({"created_at": "9999-11-15T00:00:00Z"})");
  EXPECT_TRUE(late.has_create_time());
  EXPECT_FALSE(late.has_expire_time());
}

TEST(MapBatchTest, Counts) {
  const v1::Batch batch = Map(
      R"({"searches_total_count": 1500, "searches_page_count": "2",
          "credits_required": 1099511627776, "next_result_set_id": 4.0,
          "results_count": " 3 "})");
  EXPECT_EQ(batch.searches_total_count(), 1500);
  EXPECT_EQ(batch.searches_page_count(), 2);
  EXPECT_EQ(batch.credits_required(), 1099511627776);
  EXPECT_EQ(batch.next_result_set_id(), 4);
  EXPECT_EQ(batch.results_count(), 3);
  EXPECT_THAT(batch.other_fields(), IsEmpty());

  EXPECT_EQ(Map(R"({"results_count": 2147483647})").results_count(), 2147483647);
  EXPECT_EQ(Map(R"({"credits_required": "9223372036854775807"})").credits_required(), INT64_MAX);

  const std::vector<std::pair<std::string, std::string>> bad = {
      {"searches_total_count", "-1"},
      {"searches_total_count", "2147483648"},
      {"searches_page_count", "\"12abc\""},
      {"searches_page_count", "\"-2\""},
      {"searches_page_count", "\"2147483648\""},
      {"searches_page_count", "\"2147483650\""},
      {"credits_required", "18446744073709551615"},
      {"credits_required", "\"9223372036854775808\""},
      {"credits_required", "1e300"},
      {"next_result_set_id", "1.5"},
      {"next_result_set_id", "\"0x10\""},
      {"results_count", "true"},
      {"results_count", "\"\""},
      {"results_count", "[3]"}};
  for (const auto& [key, value] : bad) {
    const v1::Batch out = Map(absl::StrCat("{\"", key, "\": ", value, "}"));
    EXPECT_EQ(out.searches_total_count() + out.searches_page_count() + out.credits_required() +
                  out.next_result_set_id() + out.results_count(),
              0)
        << key << " " << value;
    EXPECT_EQ(Other(out, key), Json::parse(value).dump()) << key << " " << value;
  }
}

TEST(MapBatchTest, SingularCountSpellings) {
  const v1::Batch singular = Map(R"({"search_total_count": 250, "search_page_count": "1"})");
  EXPECT_EQ(singular.searches_total_count(), 250);
  EXPECT_EQ(singular.searches_page_count(), 1);
  EXPECT_THAT(singular.other_fields(), IsEmpty());

  // Both readable: the plural wins, the singular is kept aside.
  const v1::Batch both = Map(
      R"({"searches_total_count": 10, "search_total_count": 11,
          "searches_page_count": 1, "search_page_count": 2})");
  EXPECT_EQ(both.searches_total_count(), 10);
  EXPECT_EQ(both.searches_page_count(), 1);
  EXPECT_EQ(Other(both, "search_total_count"), "11");
  EXPECT_EQ(Other(both, "search_page_count"), "2");

  // The plural unreadable: the singular is used, the plural kept aside.
  const v1::Batch fallback = Map(R"({"searches_total_count": "many", "search_total_count": 5})");
  EXPECT_EQ(fallback.searches_total_count(), 5);
  EXPECT_EQ(Other(fallback, "searches_total_count"), "\"many\"");
  EXPECT_EQ(Other(fallback, "search_total_count"), "<absent>");

  const v1::Batch bad_singular = Map(R"({"search_page_count": -4})");
  EXPECT_EQ(bad_singular.searches_page_count(), 0);
  EXPECT_EQ(Other(bad_singular, "search_page_count"), "-4");
}

TEST(MapBatchTest, NullCountsAsAbsent) {
  const v1::Batch batch = Map(
      R"({"name": null, "enabled": null, "status": null, "created_at": null,
          "schedule_hours": null, "some_future_field": null})");
  EXPECT_EQ(batch.display_name(), "");
  EXPECT_FALSE(batch.has_enabled());
  EXPECT_FALSE(batch.has_create_time());
  EXPECT_THAT(batch.other_fields(), IsEmpty());
}

TEST(MapBatchTest, UnknownKeysAreKeptAsCompactJson) {
  const Json extra = {{"schedule_minutes", {0, 30}},
                      {"nested", {{"b", "c"}, {"a", 1.5}, {"list", {true, false, nullptr}}}},
                      {"text", "line\nbreak \"quoted\" \xc3\xa9"},
                      {"count", -7},
                      {"empty_object", Json::object()},
                      {"empty_array", Json::array()}};
  Json object = extra;
  object["id"] = "9E867FAA";
  v1::Batch batch;
  ASSERT_TRUE(MapBatch(object, &batch).ok());
  ASSERT_EQ(batch.other_fields_size(), static_cast<int>(extra.size()));
  for (const auto& [key, value] : extra.items()) {
    EXPECT_EQ(Other(batch, key), value.dump()) << key;
  }
  EXPECT_EQ(Other(batch, "schedule_minutes"), "[0,30]");
}

TEST(MapBatchTest, OtherFieldsAreCapped) {
  Json object = {{"id", "9E867FAA"}};
  for (int i = 0; i < 100; ++i) object[absl::StrCat("k", 100 + i)] = i;
  v1::Batch batch;
  ASSERT_TRUE(MapBatch(object, &batch).ok());
  ASSERT_EQ(batch.other_fields_size(), static_cast<int>(kMaxOtherFields));
  // Keys are taken in sorted order: k100..k163.
  EXPECT_EQ(Other(batch, "k100"), "0");
  EXPECT_EQ(Other(batch, "k163"), "63");
  EXPECT_EQ(Other(batch, "k164"), "<absent>");
}

TEST(MapBatchTest, LongValuesAndKeysAreCutAtACharacterBoundary) {
  Json object = {{"id", "9E867FAA"}};
  object["ascii"] = std::string(5000, 'x');
  object["accents"] = [] {
    std::string s;
    for (int i = 0; i < 1000; ++i) s += "\xc3\xa9";  // é, 2 bytes each
    return s;
  }();
  object["wide"] = [] {
    std::string s;
    for (int i = 0; i < 1000; ++i) s += "\xf0\x9f\x98\x80";  // 4 bytes each
    return s;
  }();
  object[std::string(3000, 'K')] = 1;
  Json big_array = Json::array();
  for (int i = 0; i < 10000; ++i) big_array.push_back(i);
  object["big_array"] = big_array;
  v1::Batch batch;
  ASSERT_TRUE(MapBatch(object, &batch).ok());
  for (const auto& [key, value] : batch.other_fields()) {
    EXPECT_LE(key.size(), kMaxOtherFieldBytes);
    EXPECT_LE(value.size(), kMaxOtherFieldBytes) << key;
    EXPECT_TRUE(IsValidUtf8(value)) << key;
    EXPECT_TRUE(IsValidUtf8(key));
  }
  // Each cut value is the start of the full compact JSON, at most 3 bytes
  // (a partial character) short of the cap.
  for (const char* key : {"ascii", "accents", "wide", "big_array"}) {
    const std::string cut = Other(batch, key);
    EXPECT_GE(cut.size(), kMaxOtherFieldBytes - 3) << key;
    EXPECT_TRUE(absl::StartsWith(object[key].dump(), cut)) << key;
  }
  EXPECT_EQ(Other(batch, std::string(kMaxOtherFieldBytes, 'K')), "1");
}

// `depth` arrays nested in each other, built in place (copying one would
// recurse as deep).
Json DeepArray(int depth) {
  Json deep = Json::array();
  Json* cursor = &deep;
  for (int i = 1; i < depth; ++i) {
    cursor->push_back(Json::array());
    cursor = &cursor->back();
  }
  return deep;
}

TEST(MapBatchTest, DeepNestingNeitherRecursesNorBlowsUp) {
  // Far deeper than a recursive dump() could go on a thread's stack.
  Json object = {{"id", "9E867FAA"}};
  object["deep"] = DeepArray(300000);
  object["schedule_hours"] = DeepArray(300000);  // unreadable, kept (cut)
  v1::Batch batch;
  ASSERT_TRUE(MapBatch(object, &batch).ok());
  EXPECT_EQ(Other(batch, "deep"), std::string(kMaxOtherFieldBytes, '['));
  EXPECT_THAT(batch.schedule_hours(), IsEmpty());
  EXPECT_EQ(Other(batch, "schedule_hours"), std::string(kMaxOtherFieldBytes, '['));
}

TEST(MapBatchTest, InvalidUtf8NeverReachesAStringField) {
  // Only possible in a json built in memory (the parser rejects it).
  Json object = {{"id", "9E867FAA"},
                 {"name", "bad \xff byte"},
                 {"notification_email", "\xc3"},
                 {"destination_ids", {"ok", "\xed\xa0\x80"}},
                 {"key \xfe", "value"}};
  v1::Batch batch;
  ASSERT_TRUE(MapBatch(object, &batch).ok());
  EXPECT_EQ(batch.display_name(), "");
  EXPECT_EQ(batch.notification_email(), "");
  EXPECT_THAT(batch.destination_ids(), IsEmpty());
  EXPECT_EQ(Other(batch, "name"), "\"bad \xef\xbf\xbd byte\"");
  EXPECT_EQ(Other(batch, "key \xef\xbf\xbd"), "\"value\"");
  for (const auto& [key, value] : batch.other_fields()) {
    EXPECT_TRUE(IsValidUtf8(key));
    EXPECT_TRUE(IsValidUtf8(value)) << key;
  }
  std::string wire;
  ASSERT_TRUE(batch.SerializeToString(&wire));
  v1::Batch back;
  EXPECT_TRUE(back.ParseFromString(wire));
}

TEST(MapBatchTest, EveryDocumentedFieldWithTheGetExampleSpellings) {
  // Every field of SerpWow's documented batch object, spelled as its Get
  // Batch example does (search_total_count, search_page_count), plus a key
  // the gateway does not map.
  const Json object = Json::parse(R"({
    "id": "2A6F94BB",
    "name": "My Second Batch",
    "enabled": true,
    "status": "idle",
    "schedule_type": "weekly",
    "schedule_hours": [9, 17],
    "schedule_days_of_week": [0, 3],
    "schedule_days_of_month": [],
    "priority": "high",
    "destination_ids": ["ABCDEFG"],
    "notification_email": "me@example.com",
    "notification_webhook": "https://example.com/serpwow",
    "notification_as_json": true,
    "notification_as_jsonlines": false,
    "notification_as_csv": true,
    "created_at": "2020-01-01T00:00:00.000Z",
    "last_run": "2020-01-07T09:00:00.000Z",
    "search_total_count": 2000,
    "search_page_count": 2,
    "credits_required": 2000,
    "next_result_set_id": 3,
    "results_count": 2,
    "searches_type": "mixed",
    "searches_type_locked": true,
    "schedule_minutes": "auto"
  })");
  v1::Batch batch;
  ASSERT_TRUE(MapBatch(object, &batch).ok());
  EXPECT_EQ(batch.name(), "batches/2A6F94BB");
  EXPECT_EQ(batch.batch_id(), "2A6F94BB");
  EXPECT_EQ(batch.display_name(), "My Second Batch");
  EXPECT_TRUE(batch.has_enabled() && batch.enabled());
  EXPECT_EQ(batch.status(), v1::BATCH_STATUS_IDLE);
  EXPECT_EQ(batch.schedule_type(), v1::SCHEDULE_TYPE_WEEKLY);
  EXPECT_THAT(batch.schedule_hours(), ElementsAre(9, 17));
  EXPECT_THAT(batch.schedule_days_of_week(), ElementsAre(0, 3));
  EXPECT_THAT(batch.schedule_days_of_month(), IsEmpty());
  EXPECT_EQ(batch.priority(), v1::PRIORITY_HIGH);
  EXPECT_THAT(batch.destination_ids(), ElementsAre("ABCDEFG"));
  EXPECT_EQ(batch.notification_email(), "me@example.com");
  EXPECT_EQ(batch.notification_webhook(), "https://example.com/serpwow");
  EXPECT_TRUE(batch.notification_as_json());
  EXPECT_TRUE(batch.has_notification_as_jsonlines() && !batch.notification_as_jsonlines());
  EXPECT_TRUE(batch.notification_as_csv());
  EXPECT_EQ(batch.create_time().seconds(), UnixSeconds(2020, 1, 1));
  EXPECT_EQ(batch.last_run_time().seconds(), UnixSeconds(2020, 1, 7, 9));
  EXPECT_EQ(batch.expire_time().seconds(), UnixSeconds(2020, 3, 7, 9));
  EXPECT_EQ(batch.searches_total_count(), 2000);
  EXPECT_EQ(batch.searches_page_count(), 2);
  EXPECT_EQ(batch.credits_required(), 2000);
  EXPECT_EQ(batch.next_result_set_id(), 3);
  EXPECT_EQ(batch.results_count(), 2);
  EXPECT_EQ(batch.searches_type(), "mixed");
  EXPECT_TRUE(batch.searches_type_locked());
  ASSERT_EQ(batch.other_fields_size(), 1);
  EXPECT_EQ(Other(batch, "schedule_minutes"), "\"auto\"");
}

}  // namespace
}  // namespace serpwow::logic
