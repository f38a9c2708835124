// The shape the read RPCs of the account, result sets and searches share:
// one GET (retried as a read, endpoints.h), its reply classified with the
// generic rows (outcome.h), then the subclass's Take() on a success. A
// subclass validates in Validate(), builds its request in Begin() and calls
// SendRead(); it never repeats the deadline and classification steps.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "server/logic/download_links.h"
#include "server/logic/outcome.h"
#include "server/logic/upstream_caller.h"

namespace serpwow::logic {

class ReadOperation : public Operation {
 protected:
  // `rules` gives the words of generic messages ("reading result sets of
  // batch"). `links` (may be null: no links accepted) checks every download
  // link the subclass passes on (CheckLinks).
  ReadOperation(UpstreamCaller* caller, absl::Time deadline, ReplyRules rules,
                const DownloadLinkPolicy* links);

  // Sends `request` as the phase "read"; the reply ends in Take() or in an
  // error (DEADLINE_EXCEEDED when no attempt had the time).
  void SendRead(upstream::UpstreamRequest request);

  // A 2xx success reply: set the result and return OK, or return the error,
  // or send the next read with SendRead() and return nullopt (the call goes
  // on; that reply comes to Take() again).
  virtual absl::optional<absl::Status> Take(const Envelope& env, const upstream::HttpResult& result,
                                            const ClassifyContext& context) = 0;
  // The classifier's error for a failed reply; a subclass may sharpen it
  // (e.g. a not-found result set). Default: as it is.
  virtual absl::Status Refine(absl::Status error, const upstream::HttpResult& result);

  // Validates `parent` ("batches/{id}", BadRequest on field "parent") and
  // sets batch_id_ and what_ ("<what> of batch <id>").
  absl::Status TakeParent(const std::string& parent, const char* what);

  // CheckDownloadLinks with this call's policy, the gateway's key and batch.
  absl::Status CheckLinks(const serpwow::batches::v1::DownloadLinks& links) const;

  // What is read, for the deadline message: "the result sets of batch X".
  std::string what_;

 private:
  void OnRead(PhaseOutcome outcome);

  const ReplyRules rules_;
  const DownloadLinkPolicy* const links_;
};

}  // namespace serpwow::logic
