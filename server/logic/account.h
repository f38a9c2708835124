// GetAccount, the service logic: the name must be "account"; one free read
// of SerpWow's GET /account, mapped into v1.Account (resource_mapping.h).
#pragma once

#include <string>

#include "serpwow/batches/v1/resources.pb.h"
#include "server/logic/read_operation.h"

namespace serpwow::logic {

class GetAccountOperation final : public ReadOperation {
 public:
  GetAccountOperation(UpstreamCaller* caller, std::string name, absl::Time deadline);
  const serpwow::batches::v1::Account& result() const { return account_; }

 private:
  absl::Status Validate() override;
  void Begin() override;
  absl::optional<absl::Status> Take(const Envelope& env, const upstream::HttpResult& result,
                                    const ClassifyContext& context) override;

  const std::string name_;
  serpwow::batches::v1::Account account_;
};

}  // namespace serpwow::logic
