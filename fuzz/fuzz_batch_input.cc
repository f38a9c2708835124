// fuzz_batch_input: a caller's Batch as CreateBatch and UpdateBatch take it
// (server/logic/batch_input.h), and request_id (request_dedupe.h). The input
// is a v1.Batch in the wire format (unparsable inputs are skipped); its
// display_name is also checked as a request_id.
//
// Invariants (abort when violated):
//  - FieldsToCreate: OK with only settable fields that are set, or
//    INVALID_ARGUMENT INVALID_FIELD with the contract's shape (fuzz_check.h);
//  - ValidateBatchInput: OK, or INVALID_FIELD whose every BadRequest field
//    starts with "batch." and whose message starts with the first one;
//  - on OK: BatchRequestJson is a JSON object with exactly one key per field
//    sent, display_name as "name", enums as lower-case words;
//  - FieldsToUpdate with no mask: OK with settable fields only, or
//    INVALID_UPDATE_MASK;
//  - ValidateRequestId: OK only for 36 characters.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "fuzz/fuzz_check.h"
#include "server/logic/batch_input.h"
#include "server/logic/errors.h"
#include "server/logic/request_dedupe.h"

namespace serpwow::fuzz {
namespace {

namespace v1 = serpwow::batches::v1;
using logic::BatchFields;
using logic::GetDetail;
using logic::ReasonOf;
namespace reason = logic::reason;

void Run(const v1::Batch& batch) {
  using logic::IsSettableBatchField;

  absl::StatusOr<BatchFields> fields = logic::FieldsToCreate(batch);
  if (!fields.ok()) {
    google::rpc::ErrorInfo info = CheckErrorShape(fields.status(), "");
    FUZZ_CHECK(info.reason() == reason::kInvalidField, Describe(fields.status()));
  } else {
    for (const auto* f : *fields) FUZZ_CHECK(IsSettableBatchField(f), f->name());
    absl::Status valid =
        logic::ValidateBatchInput(batch, *fields, /*create=*/true, logic::MutationOptions());
    if (!valid.ok()) {
      google::rpc::ErrorInfo info = CheckErrorShape(valid, "");
      FUZZ_CHECK(info.reason() == reason::kInvalidField, Describe(valid));
      auto bad = GetDetail<google::rpc::BadRequest>(valid);
      FUZZ_CHECK(bad.has_value() && bad->field_violations_size() > 0, Describe(valid));
      for (const auto& v : bad->field_violations()) {
        FUZZ_CHECK(absl::StartsWith(v.field(), "batch."), v.field());
      }
      FUZZ_CHECK(absl::StartsWith(valid.message(), bad->field_violations(0).field()),
                 Describe(valid));
    } else {
      const nlohmann::json body =
          nlohmann::json::parse(logic::BatchRequestJson(batch, *fields), nullptr, false);
      FUZZ_CHECK(body.is_object() && body.size() == fields->size(), body.dump());
      FUZZ_CHECK(body.contains("name") && !body.contains("display_name"), body.dump());
      for (const char* key : {"priority", "schedule_type"}) {
        if (!body.contains(key)) continue;
        const std::string word = body[key].get<std::string>();
        FUZZ_CHECK(!word.empty() && word == absl::AsciiStrToLower(word), word);
      }
    }
  }

  absl::StatusOr<BatchFields> update = logic::FieldsToUpdate(batch, google::protobuf::FieldMask());
  if (update.ok()) {
    for (const auto* f : *update) FUZZ_CHECK(IsSettableBatchField(f), f->name());
  } else {
    FUZZ_CHECK(ReasonOf(update.status()) == reason::kInvalidUpdateMask, Describe(update.status()));
  }

  const std::string& id = batch.display_name();
  absl::Status request_id = logic::ValidateRequestId(id, "request_id");
  FUZZ_CHECK(!request_id.ok() || id.size() == 36, id);
  if (!request_id.ok()) {
    FUZZ_CHECK(ReasonOf(request_id) == reason::kInvalidRequestId, Describe(request_id));
  }
}

}  // namespace
}  // namespace serpwow::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  serpwow::batches::v1::Batch batch;
  if (!batch.ParseFromArray(data, static_cast<int>(size))) return 0;
  serpwow::fuzz::Run(batch);
  return 0;
}
