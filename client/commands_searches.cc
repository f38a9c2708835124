// The search verbs that change a batch's searches, and find:
// `searches add|update|delete|clear|find`. The gateway sends a batch's
// search calls one at a time (SerpWow's rule); batchctl sends its own calls
// one after another too, so a large file never competes with itself.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/declare.h"
#include "absl/flags/flag.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "client/child_format.h"
#include "client/cli.h"
#include "client/search_file.h"

ABSL_DECLARE_FLAG(std::string, f);
ABSL_DECLARE_FLAG(bool, dry_run);
ABSL_FLAG(std::string, q, "", "searches add/update: the search's query (SerpWow's q)");
ABSL_FLAG(std::string, location, "", "searches add/update: the search's location");
ABSL_FLAG(std::string, search_type, "",
          "searches add/update: the search's type (e.g. news, images; empty: web)");
ABSL_FLAG(std::string, custom_id, "",
          "searches add/update: your own label for the search; searches list: only the search "
          "with this custom_id");
ABSL_FLAG(std::string, include_html, "", "searches add/update: true or false");
ABSL_FLAG(int32_t, max_page, 0, "searches add/update: the result pages to fetch (1 or more)");
ABSL_FLAG(std::string, param, "",
          "searches add/update: another search parameter, KEY=VALUE (repeat the flag for more, "
          "e.g. --param gl=us --param hl=en)");
ABSL_FLAG(std::string, find, "", "searches list: only the searches matching this term");

namespace serpwow::client {
namespace {

// SerpWow's documented maximum per add or bulk delete call.
constexpr size_t kChunk = 1000;

std::string SearchName(const std::string& batch, const std::string& search) {
  return absl::StrCat(BatchName(batch), "/searches/", search);
}

// The search given by the flags; the paths of the fields set go to
// `*paths` (the update mask of `searches update`).
absl::Status SearchFromFlags(v1::Search* search, std::vector<std::string>* paths) {
  struct Text {
    const char* flag;
    std::string value;
  };
  const Text texts[] = {{"q", absl::GetFlag(FLAGS_q)},
                        {"location", absl::GetFlag(FLAGS_location)},
                        {"search_type", absl::GetFlag(FLAGS_search_type)},
                        {"custom_id", absl::GetFlag(FLAGS_custom_id)},
                        {"include_html", absl::GetFlag(FLAGS_include_html)}};
  for (const Text& t : texts) {
    if (!Given(t.flag)) continue;
    if (absl::Status s = SetSearchField(t.flag, t.value, search); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("--", t.flag, ": ", s.message()));
    }
    paths->push_back(t.flag);
  }
  if (Given("max_page")) {
    if (absl::Status s =
            SetSearchField("max_page", absl::StrCat(absl::GetFlag(FLAGS_max_page)), search);
        !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("--max_page: ", s.message()));
    }
    paths->push_back("max_page");
  }
  for (const std::string& pair : GivenValues("param")) {
    const size_t eq = pair.find('=');
    if (eq == std::string::npos || eq == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("--param \"", pair, "\": write it KEY=VALUE, e.g. --param gl=us"));
    }
    const std::string key = pair.substr(0, eq);
    if (absl::Status s = SetSearchField(key, pair.substr(eq + 1), search); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("--param: ", s.message()));
    }
    paths->push_back(absl::StrCat("params.", key));
  }
  return absl::OkStatus();
}

// Progress on stderr, only on a terminal: "added 2000/4200", rewritten in
// place.
void Progress(const Env& env, size_t done, size_t total) {
  if (!env.terminal.is_tty || isatty(STDERR_FILENO) != 1) return;
  std::fprintf(stderr, "\radded %zu/%zu", done, total);
  if (done == total) std::fputc('\n', stderr);
  std::fflush(stderr);
}

}  // namespace

int SearchesAdd(const Env& env, const std::vector<std::string>& args) {
  if (args.size() != 1) return UsageError("'searches add' takes one BATCH_ID (and -f FILE)");
  std::vector<v1::Search> searches;
  const std::string file = absl::GetFlag(FLAGS_f);
  std::vector<std::string> paths;
  v1::Search from_flags;
  if (absl::Status s = SearchFromFlags(&from_flags, &paths); !s.ok()) {
    return UsageError(std::string(s.message()));
  }
  if (!file.empty()) {
    if (!paths.empty()) return UsageError("give -f FILE or the search's flags, not both");
    absl::StatusOr<std::vector<v1::Search>> read = ReadSearchFile(file);
    if (!read.ok()) return UsageError(std::string(read.status().message()));
    searches = std::move(*read);
    if (searches.empty()) return UsageError(absl::StrCat(file, " holds no searches"));
  } else {
    if (!Given("q")) return UsageError("'searches add' needs -f FILE or at least --q");
    searches.push_back(std::move(from_flags));
  }
  const std::string parent = BatchName(args[0]);
  v1::AddSearchesResponse last;
  size_t added = 0;
  for (size_t start = 0; start < searches.size(); start += kChunk) {
    const size_t end = std::min(searches.size(), start + kChunk);
    v1::AddSearchesRequest request;
    request.set_parent(parent);
    // One request id per chunk: a retry of the same chunk (the channel's
    // retry policy) adds nothing twice.
    request.set_request_id(NewUuid());
    for (size_t i = start; i < end; ++i) *request.add_searches() = searches[i];
    v1::AddSearchesResponse response;
    if (int code = Call(env, &v1::BatchService::Stub::AddSearches, request, &response)) {
      if (searches.size() > kChunk) {
        std::fprintf(stderr,
                     "batchctl: searches %zu-%zu (chunk %zu of %zu) were not added; the %zu "
                     "before them were\n",
                     start + 1, end, start / kChunk + 1, (searches.size() + kChunk - 1) / kChunk,
                     added);
      }
      return code;
    }
    added += static_cast<size_t>(response.added_count());
    last = std::move(response);
    Progress(env, end, searches.size());
  }
  if (env.format == Format::kJson || env.format == Format::kJsonl) {
    std::printf("%s\n", MessageJson(last).c_str());
  } else if (env.format == Format::kName) {
    std::printf("%s\n", parent.c_str());
  } else {
    std::printf("added %zu searches to batch %s; it now has %d\n", added,
                last.batch().batch_id().c_str(), last.batch().searches_total_count());
  }
  return 0;
}

int SearchesUpdate(const Env& env, const std::vector<std::string>& args) {
  if (args.size() != 2) return UsageError("'searches update' takes BATCH_ID SEARCH_ID");
  v1::UpdateSearchRequest request;
  std::vector<std::string> paths;
  if (absl::Status s = SearchFromFlags(request.mutable_search(), &paths); !s.ok()) {
    return UsageError(std::string(s.message()));
  }
  if (paths.empty()) {
    return UsageError(
        "'searches update' changes the fields given: --q, --location, --search_type, "
        "--custom_id, --include_html, --max_page or --param KEY=VALUE");
  }
  request.mutable_search()->set_name(SearchName(args[0], args[1]));
  for (const std::string& path : paths) request.mutable_update_mask()->add_paths(path);
  v1::Search search;
  if (int code = Call(env, &v1::BatchService::Stub::UpdateSearch, request, &search)) return code;
  if (env.format == Format::kTable || env.format == Format::kWide) {
    std::string fields;
    for (const std::string& p : paths) absl::StrAppend(&fields, fields.empty() ? "" : ", ", p);
    std::printf("updated search %s: %s\n", args[1].c_str(), fields.c_str());
  } else {
    PrintResources<v1::Search>(env, {&search}, false, &SearchColumns, &SearchCells);
  }
  return 0;
}

int SearchesDelete(const Env& env, const std::vector<std::string>& args) {
  if (args.size() < 2) return UsageError("'searches delete' takes BATCH_ID SEARCH_ID...");
  const std::vector<std::string> ids(args.begin() + 1, args.end());
  if (ids.size() == 1) {
    v1::DeleteSearchRequest request;
    request.set_name(SearchName(args[0], ids[0]));
    google::protobuf::Empty empty;
    if (int code = Call(env, &v1::BatchService::Stub::DeleteSearch, request, &empty)) return code;
  } else {
    for (size_t start = 0; start < ids.size(); start += kChunk) {
      const size_t end = std::min(ids.size(), start + kChunk);
      v1::BatchDeleteSearchesRequest request;
      request.set_parent(BatchName(args[0]));
      request.set_request_id(NewUuid());
      for (size_t i = start; i < end; ++i) request.add_names(SearchName(args[0], ids[i]));
      google::protobuf::Empty empty;
      if (int code = Call(env, &v1::BatchService::Stub::BatchDeleteSearches, request, &empty)) {
        if (start > 0) std::fprintf(stderr, "batchctl: the first %zu were deleted\n", start);
        return code;
      }
    }
  }
  if (env.format == Format::kJson || env.format == Format::kJsonl) {
    std::printf("{\"deleted\":%zu}\n", ids.size());
  } else {
    std::printf("deleted %zu search%s\n", ids.size(), ids.size() == 1 ? "" : "es");
  }
  return 0;
}

int SearchesClear(const Env& env, const std::vector<std::string>& args) {
  if (args.size() != 1) return UsageError("'searches clear' takes one BATCH_ID");
  v1::PurgeSearchesRequest request;
  request.set_parent(BatchName(args[0]));
  request.set_filter("*");
  request.set_force(false);
  v1::PurgeSearchesResponse count;
  if (int code = Call(env, &v1::BatchService::Stub::PurgeSearches, request, &count)) return code;
  const bool as_json = env.format == Format::kJson || env.format == Format::kJsonl;
  if (absl::GetFlag(FLAGS_dry_run)) {
    if (as_json) {
      std::printf("%s\n", MessageJson(count).c_str());
    } else {
      std::printf("would delete %d searches\n", count.purge_count());
    }
    return 0;
  }
  if (!Confirm(absl::StrCat("batch ", args[0], " has ", count.purge_count(),
                            " searches; delete them all?"))) {
    std::fprintf(stderr, "batchctl: nothing deleted\n");
    return 0;
  }
  request.set_force(true);
  v1::PurgeSearchesResponse purged;
  if (int code = Call(env, &v1::BatchService::Stub::PurgeSearches, request, &purged)) return code;
  if (as_json) {
    std::printf("%s\n", MessageJson(purged).c_str());
  } else {
    std::printf("deleted %d searches\n", purged.purge_count());
  }
  return 0;
}

namespace {

// `searches list` with --find or --custom_id, and `searches find`: the
// filter SerpWow's Find takes.
int ListSearches(const Env& env, const std::vector<std::string>& args, const std::string& find) {
  if (args.size() != 1) return UsageError("'searches list' takes one BATCH_ID");
  v1::ListSearchesRequest request;
  request.set_parent(BatchName(args[0]));
  const std::string term = find.empty() ? absl::GetFlag(FLAGS_find) : find;
  if (!term.empty() && Given("custom_id"))
    return UsageError("give --find or --custom_id, not both");
  if (!term.empty()) request.set_filter(absl::StrCat("q = ", FilterLiteral(term)));
  if (Given("custom_id")) {
    request.set_filter(absl::StrCat("custom_id = ", FilterLiteral(absl::GetFlag(FLAGS_custom_id))));
  }
  return ListAndPrint(env, &v1::BatchService::Stub::ListSearches, request,
                      &v1::ListSearchesResponse::searches, &SearchColumns, &SearchCells);
}

}  // namespace

int SearchesList(const Env& env, const std::vector<std::string>& args) {
  return ListSearches(env, args, "");
}

int SearchesFind(const Env& env, const std::vector<std::string>& args) {
  if (args.size() != 2 || args[1].empty()) {
    return UsageError("'searches find' takes BATCH_ID TERM");
  }
  return ListSearches(env, {args[0]}, args[1]);
}

}  // namespace serpwow::client
