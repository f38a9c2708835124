#include "server/logic/read_operation.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "server/logic/batch_id.h"
#include "server/logic/errors.h"

namespace serpwow::logic {

ReadOperation::ReadOperation(UpstreamCaller* caller, absl::Time deadline, ReplyRules rules,
                             const DownloadLinkPolicy* links)
    : Operation(caller, deadline), rules_(rules), links_(links) {}

void ReadOperation::SendRead(upstream::UpstreamRequest request) {
  Send("read", std::move(request), deadline(), upstream_options().timeout_cap,
       Done(&ReadOperation::OnRead));
}

absl::Status ReadOperation::Refine(absl::Status error, const upstream::HttpResult&) {
  return error;
}

absl::Status ReadOperation::TakeParent(const std::string& parent, const char* what) {
  absl::StatusOr<std::string> id = ParseBatchName(parent, "parent");
  if (!id.ok()) return id.status();
  batch_id_ = std::move(*id);
  what_ = absl::StrCat(what, " of batch ", batch_id_);
  return absl::OkStatus();
}

absl::Status ReadOperation::CheckLinks(const serpwow::batches::v1::DownloadLinks& links) const {
  static const DownloadLinkPolicy* const kNone = new DownloadLinkPolicy();
  return CheckDownloadLinks(links, links_ != nullptr ? *links_ : *kNone, upstream_options().api_key,
                            batch_id_);
}

void ReadOperation::OnRead(PhaseOutcome outcome) {
  if (outcome.attempts == 0 || outcome.out_of_time) {
    End(ErrorBuilder(absl::StatusCode::kDeadlineExceeded,
                     absl::StrCat("the call's deadline passed before ", what_, " could be read"),
                     reason::kDeadlineExceeded)
            .Metadata("batch_id", batch_id_));
    return;
  }
  const ClassifyContext context = Context(batch_id_, outcome.deadline_binds);
  absl::StatusOr<Envelope> env = ClassifyReply(outcome.result, context, rules_);
  if (!env.ok()) {
    End(Refine(env.status(), outcome.result));
    return;
  }
  if (absl::optional<absl::Status> status = Take(*env, outcome.result, context)) {
    End(std::move(*status));
  }
}

}  // namespace serpwow::logic
