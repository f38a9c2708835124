#include "client/batch_file.h"

#include <google/protobuf/util/json_util.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/file.h"

namespace serpwow::client {
namespace {

namespace v1 = serpwow::batches::v1;
using nlohmann::json;

// A YAML node as JSON. A plain (unquoted) scalar is a bool, null or number
// when it reads as one (YAML 1.2's core schema), else a string; a quoted one
// is always a string.
json ToJson(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      json out = json::object();
      for (const auto& entry : node) out[entry.first.as<std::string>()] = ToJson(entry.second);
      return out;
    }
    case YAML::NodeType::Sequence: {
      json out = json::array();
      for (const auto& item : node) out.push_back(ToJson(item));
      return out;
    }
    case YAML::NodeType::Scalar: {
      const std::string text = node.Scalar();
      if (node.Tag() == "?") {
        if (text == "true" || text == "false") return text == "true";
        if (text == "null" || text == "~") return nullptr;
        int64_t n = 0;
        if (absl::SimpleAtoi(text, &n)) return n;
      }
      return text;
    }
    default:
      return nullptr;
  }
}

// "daily" -> "SCHEDULE_TYPE_DAILY" for the batch's enum fields.
void QualifyEnums(json& object) {
  static const std::pair<const char*, const char*> kEnums[] = {{"schedule_type", "SCHEDULE_TYPE_"},
                                                               {"scheduleType", "SCHEDULE_TYPE_"},
                                                               {"priority", "PRIORITY_"}};
  for (const auto& [key, prefix] : kEnums) {
    auto it = object.find(key);
    if (it == object.end() || !it->is_string()) continue;
    std::string value = absl::AsciiStrToUpper(it->get<std::string>());
    if (value.rfind(prefix, 0) != 0) value = prefix + value;
    *it = value;
  }
}

}  // namespace

absl::Status ParseBatchText(const std::string& text, const std::string& where, v1::Batch* batch,
                            std::vector<std::string>* paths) {
  json object;
  const size_t first = text.find_first_not_of(" \t\r\n");
  try {
    if (first != std::string::npos && text[first] == '{') {
      object = json::parse(text);
    } else {
      object = ToJson(YAML::Load(text));
    }
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": not valid JSON or YAML: ", e.what()));
  }
  if (!object.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": must hold one batch object"));
  }
  QualifyEnums(object);
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  const auto status = google::protobuf::util::JsonStringToMessage(object.dump(), batch, options);
  if (!status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": ", std::string(status.message().data(), status.message().size())));
  }
  const google::protobuf::Descriptor* descriptor = v1::Batch::descriptor();
  for (const auto& [key, value] : object.items()) {
    const google::protobuf::FieldDescriptor* field = descriptor->FindFieldByName(key);
    if (field == nullptr) field = descriptor->FindFieldByCamelcaseName(key);
    if (field == nullptr) continue;  // the parser above refused unknown names already
    if (std::find(paths->begin(), paths->end(), field->name()) == paths->end()) {
      paths->push_back(field->name());
    }
  }
  return absl::OkStatus();
}

absl::Status ReadBatchFile(const std::string& path, v1::Batch* batch,
                           std::vector<std::string>* paths) {
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) return absl::InvalidArgumentError(absl::StrCat("-f: ", text.status().message()));
  return ParseBatchText(*text, "-f " + path, batch, paths);
}

}  // namespace serpwow::client
