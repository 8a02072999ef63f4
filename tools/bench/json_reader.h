// A small strict JSON reader (RFC 8259) for tests: it checks that what
// skiff-bench writes is valid JSON and lets a test walk the result.
//
//   SKIFF_ASSIGN_OR_RETURN(JsonValue v, ParseJson(text));
//   const JsonValue* runs = v.Find("vmms")->At(0)->Find("runs");
#ifndef SKIFF_TOOLS_BENCH_JSON_READER_H_
#define SKIFF_TOOLS_BENCH_JSON_READER_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace skiff::bench {

struct JsonValue {
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };
  Type type = Type::kNull;
  bool boolean = false;
  double number = 0;
  std::string string;
  std::vector<JsonValue> array;
  // Object members in order: keys[i] names values[i]. (Two vectors, as a
  // vector of pair<string, JsonValue> needs JsonValue complete here.)
  std::vector<std::string> keys;
  std::vector<JsonValue> values;

  // The member `key` of an object, or nullptr.
  const JsonValue* Find(std::string_view key) const;
  // Element i of an array, or nullptr.
  const JsonValue* At(size_t i) const;
  bool is_null() const { return type == Type::kNull; }
};

// Parses one JSON document (nesting limited to 64 levels).
absl::StatusOr<JsonValue> ParseJson(std::string_view text);

}  // namespace skiff::bench

#endif  // SKIFF_TOOLS_BENCH_JSON_READER_H_
