#include "server/logic/list_filter.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/logic/errors.h"

namespace serpwow::logic {
namespace {

QueryParams Params(const std::string& filter) {
  absl::StatusOr<BatchFilter> got = ParseBatchFilter(filter);
  EXPECT_TRUE(got.ok()) << filter << ": " << got.status();
  return got.ok() ? got->params : QueryParams{};
}

// The error's position, checked in all three places it is reported.
size_t RefusedAt(const std::string& filter) {
  absl::StatusOr<BatchFilter> got = ParseBatchFilter(filter);
  EXPECT_FALSE(got.ok()) << filter;
  if (got.ok()) return 0;
  EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ReasonOf(got.status()), reason::kInvalidFilter);
  auto info = GetDetail<google::rpc::ErrorInfo>(got.status());
  auto bad = GetDetail<google::rpc::BadRequest>(got.status());
  EXPECT_TRUE(info.has_value() && bad.has_value());
  if (!info || !bad) return 0;
  EXPECT_EQ(bad->field_violations(0).field(), "filter");
  const std::string position = info->metadata().at("position");
  EXPECT_NE(bad->field_violations(0).description().find(absl::StrCat("position ", position)),
            std::string::npos);
  EXPECT_NE(std::string(got.status().message()).find(absl::StrCat("position ", position)),
            std::string::npos);
  return std::stoul(position);
}

TEST(BatchFilter, EmptyIsNoParameters) {
  absl::StatusOr<BatchFilter> got = ParseBatchFilter("  ");
  ASSERT_TRUE(got.ok());
  EXPECT_TRUE(got->params.empty());
  EXPECT_EQ(got->canonical, "");
}

TEST(BatchFilter, EachPredicateMapsToItsParameter) {
  using P = QueryParams;
  EXPECT_EQ(Params("status = QUEUED"), (P{{"status", "queued"}}));
  EXPECT_EQ(Params("status=BATCH_STATUS_RUNNING"), (P{{"status", "running"}}));
  EXPECT_EQ(Params("status = idle"), (P{{"status", "idle"}}));
  EXPECT_EQ(Params("display_name = \"Nightly\""),
            (P{{"search_term", "Nightly"}, {"search_type", "exact"}}));
  EXPECT_EQ(Params("display_name = \"Night*\""),
            (P{{"search_term", "Night"}, {"search_type", "starts_with"}}));
  EXPECT_EQ(Params("display_name = '*ly'"),
            (P{{"search_term", "ly"}, {"search_type", "ends_with"}}));
  EXPECT_EQ(Params("display_name = \"*igh*\""),
            (P{{"search_term", "igh"}, {"search_type", "contains"}}));
  EXPECT_EQ(Params("nightly"), (P{{"search_term", "nightly"}, {"search_type", "contains"}}));
  EXPECT_EQ(Params("\"two words\""),
            (P{{"search_term", "two words"}, {"search_type", "contains"}}));
  EXPECT_EQ(Params("create_time > \"2026-01-31T10:00:00Z\""),
            (P{{"created_after", "2026-01-31T10:00:00.000Z"}}));
  EXPECT_EQ(Params("create_time < \"2026-01-31T12:00:00+02:00\""),
            (P{{"created_before", "2026-01-31T10:00:00.000Z"}}));
  EXPECT_EQ(Params("last_run_time > \"2026-01-31T10:00:00.5Z\""),
            (P{{"last_run_after", "2026-01-31T10:00:00.500Z"}}));
  EXPECT_EQ(Params("last_run_time < '2026-01-31T10:00:00Z'"),
            (P{{"last_run_before", "2026-01-31T10:00:00.000Z"}}));
  EXPECT_EQ(Params("destination_ids:\"DEST_1\""), (P{{"destination_id", "DEST_1"}}));
  EXPECT_EQ(Params("destination_ids : D2"), (P{{"destination_id", "D2"}}));
  EXPECT_EQ(Params("results_count > 0"), (P{{"only_with_results", "true"}}));
  EXPECT_EQ(Params("results_count = 0"), (P{{"only_without_results", "true"}}));
}

TEST(BatchFilter, AndJoinsAndTheCanonicalFormIsOrderFree) {
  absl::StatusOr<BatchFilter> a = ParseBatchFilter(
      "status = QUEUED AND create_time > \"2026-01-01T00:00:00Z\" AND create_time < "
      "\"2026-02-01T00:00:00Z\"");
  absl::StatusOr<BatchFilter> b = ParseBatchFilter(
      "create_time<'2026-02-01T01:00:00+01:00' AND status=batch_status_queued   AND "
      "create_time>\"2026-01-01T00:00:00.000Z\"");
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(a->canonical, b->canonical);
  EXPECT_EQ(a->params, b->params);
  EXPECT_EQ(a->canonical,
            "create_time > \"2026-01-01T00:00:00.000Z\" AND create_time < "
            "\"2026-02-01T00:00:00.000Z\" AND status = QUEUED");
  EXPECT_EQ(a->params.size(), 3u);
}

TEST(BatchFilter, RefusedFormsNameTheirPosition) {
  const std::vector<std::pair<std::string, size_t>> rows = {
      {"status = QUEUED OR status = IDLE", 17},
      {"NOT status = IDLE", 1},
      {"-nightly", 1},
      {"status != IDLE", 8},
      {"(status = IDLE)", 1},
      {"create_time >= \"2026-01-01T00:00:00Z\"", 13},
      {"create_time <= \"2026-01-01T00:00:00Z\"", 13},
      {"status = IDLE AND status = QUEUED", 19},
      {"display_name = \"x\" AND nightly", 24},  // search_term twice
      {"priority = HIGH", 1},
      {"status = DONE", 10},
      {"status > IDLE", 8},
      {"create_time > \"yesterday\"", 15},
      {"create_time = \"2026-01-01T00:00:00Z\"", 13},
      {"results_count > 1", 15},
      {"results_count < 0", 15},
      {"destination_ids = X", 17},
      {"destination_ids:\"a/b\"", 17},
      {"display_name = \"a*b\"", 18},  // the inner star
      {"display_name = \"*\"", 16},
      {"display_name = \"x", 16},     // never closed
      {"status = IDLE AND", 18},      // ends too early
      {"status = IDLE nightly", 15},  // implicit AND
      {"= IDLE", 1},
      {"status =", 9},
      {std::string("status = \x01"), 10},
      {"night*", 1},  // a bare value is not a pattern
      {std::string(kMaxFilterLength + 1, 'a'), kMaxFilterLength + 1},
  };
  for (const auto& [filter, position] : rows) EXPECT_EQ(RefusedAt(filter), position) << filter;
}

TEST(BatchFilter, MessagesNeverEchoRawInput) {
  absl::StatusOr<BatchFilter> got = ParseBatchFilter("field\x1b[31m = 1");
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(std::string(got.status().message()).find('\x1b'), std::string::npos);
  got = ParseBatchFilter("api_key_is_secret_value_0123456789 = 1");
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(std::string(got.status().message()).find("secret_value"), std::string::npos);
}

TEST(BatchOrderBy, KeysAndDirections) {
  struct Row {
    const char* in;
    const char* sort_by;
    const char* direction;
    const char* canonical;
  };
  const Row rows[] = {
      {"", "created_at", "ascending", "create_time"},
      {"create_time", "created_at", "ascending", "create_time"},
      {"create_time desc", "created_at", "descending", "create_time desc"},
      {"  display_name   asc ", "name", "ascending", "display_name"},
      {"last_run_time desc", "last_run", "descending", "last_run_time desc"},
      {"priority", "priority", "ascending", "priority"},
      {"status desc", "status", "descending", "status desc"},
  };
  for (const Row& row : rows) {
    absl::StatusOr<BatchOrder> got = ParseBatchOrderBy(row.in);
    ASSERT_TRUE(got.ok()) << row.in << ": " << got.status();
    EXPECT_EQ(got->sort_by, row.sort_by) << row.in;
    EXPECT_EQ(got->sort_direction, row.direction) << row.in;
    EXPECT_EQ(got->canonical, row.canonical) << row.in;
  }
}

TEST(BatchOrderBy, RefusedWithPosition) {
  const std::pair<const char*, const char*> rows[] = {
      {"create_time, status", "12"},    {"create_time desc, status", "17"}, {"name", "1"},
      {"create_time descending", "13"}, {"create_time desc status", "18"},
  };
  for (const auto& [in, position] : rows) {
    absl::StatusOr<BatchOrder> got = ParseBatchOrderBy(in);
    ASSERT_FALSE(got.ok()) << in;
    EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(ReasonOf(got.status()), reason::kInvalidOrderBy);
    auto info = GetDetail<google::rpc::ErrorInfo>(got.status());
    ASSERT_TRUE(info.has_value());
    EXPECT_EQ(info->metadata().at("position"), position) << in;
    auto bad = GetDetail<google::rpc::BadRequest>(got.status());
    ASSERT_TRUE(bad.has_value());
    EXPECT_EQ(bad->field_violations(0).field(), "order_by");
  }
}

}  // namespace
}  // namespace serpwow::logic
