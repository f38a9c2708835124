// A caller's Batch as CreateBatch and UpdateBatch send it: which fields go,
// the local checks before anything is sent (design §1.6, §2.10), and the
// JSON body in SerpWow's names. Pure; free of gRPC types.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/field_mask.pb.h"
#include "serpwow/batches/v1/resources.pb.h"
#include "server/logic/batch_mutation.h"

namespace serpwow::logic {

using BatchFields = std::vector<const google::protobuf::FieldDescriptor*>;

// The Batch fields a caller may set: display_name, enabled, schedule_type,
// schedule_hours, schedule_days_of_week, schedule_days_of_month, priority,
// destination_ids, notification_email, notification_webhook,
// notification_as_json, notification_as_jsonlines, notification_as_csv,
// searches_type. Everything else is output only.
bool IsSettableBatchField(const google::protobuf::FieldDescriptor* field);

// CreateBatch: every settable field that is set (repeated: non-empty;
// optional: present; strings: non-empty). An output-only field that is set
// is INVALID_ARGUMENT INVALID_FIELD ("batch.<field>").
absl::StatusOr<BatchFields> FieldsToCreate(const serpwow::batches::v1::Batch& batch);

// UpdateBatch: the fields of `mask`, or with an empty mask every settable
// field that is set (at least one). "*", an unknown path and an output-only
// path are INVALID_ARGUMENT INVALID_UPDATE_MASK (BadRequest "update_mask").
absl::StatusOr<BatchFields> FieldsToUpdate(const serpwow::batches::v1::Batch& batch,
                                           const google::protobuf::FieldMask& mask);

// The local checks of the fields in `fields` (and schedule consistency when
// schedule_type is among them): INVALID_ARGUMENT INVALID_FIELD with one
// BadRequest violation per problem, each on its exact path
// ("batch.schedule_hours[2]"); the message names the first. Nothing is sent
// when this fails. `create` also requires display_name.
absl::Status ValidateBatchInput(const serpwow::batches::v1::Batch& batch, const BatchFields& fields,
                                bool create, const MutationOptions& options);

// The JSON object SerpWow's POST /batches and PUT /batches/{id} take, with
// exactly `fields` (display_name as "name", enums as SerpWow's lower-case
// words).
std::string BatchRequestJson(const serpwow::batches::v1::Batch& batch, const BatchFields& fields);

}  // namespace serpwow::logic
