// lib/options.h — one field list per options struct: it drives reading from JSON (config files,
// checkpoint config.json, -p key=value), writing back to JSON (reports, checkpoints) and the
// rejection of unknown keys, so a field is named once.
//
//   const OptionFields<AdvGanOptions>& fields() {
//     static const OptionFields<AdvGanOptions> f = OptionFields<AdvGanOptions>()
//         .add("eps", &AdvGanOptions::eps).add("epochs", &AdvGanOptions::epochs);
//     return f;
//   }
//   fields().from_json(options, j, "runs/advgan/config.json");   // UsageError on unknown keys
//   nlohmann::json j = fields().to_json(options);
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace mirage {

namespace options_detail {
// Value readers shared by every field list; `what` names the file and key for the UsageError.
// Numbers also accept strings as users write them ("8/255", "1e-3").
double read_double(const nlohmann::json& v, const std::string& what);
int64_t read_int(const nlohmann::json& v, const std::string& what);
uint64_t read_uint(const nlohmann::json& v, const std::string& what);  // seeds: the full 64 bits
bool read_bool(const nlohmann::json& v, const std::string& what);
std::string read_string(const nlohmann::json& v, const std::string& what);
[[noreturn]] void unknown_key(const std::string& source, const std::string& key, const std::vector<std::string>& known);
[[noreturn]] void not_an_object(const std::string& source);
}  // namespace options_detail

template <class T>
class OptionFields {
 public:
  template <class V>
  OptionFields& add(std::string name, V T::*member) {
    fields_.push_back({std::move(name), Member(member)});
    return *this;
  }

  // Every field, in the order added.
  nlohmann::json to_json(const T& value) const {
    nlohmann::json j = nlohmann::json::object();
    for (const auto& f : fields_) {
      std::visit([&](auto m) { j[f.name] = value.*m; }, f.member);
    }
    return j;
  }

  // Sets the fields `j` names; the rest keep their values. An unknown key, a wrong type or a
  // non-object is a UsageError naming `source` and the key. null leaves a field as it is.
  void from_json(T& value, const nlohmann::json& j, const std::string& source) const {
    if (!j.is_object()) options_detail::not_an_object(source);
    for (const auto& [key, v] : j.items()) {
      const Field* f = find(key);
      if (!f) options_detail::unknown_key(source, key, names());
      if (v.is_null()) continue;
      const std::string what = source + ": '" + key + "'";
      std::visit([&](auto m) { assign(value.*m, v, what); }, f->member);
    }
  }

  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& f : fields_) out.push_back(f.name);
    return out;
  }

 private:
  using Member = std::variant<double T::*, int64_t T::*, uint64_t T::*, bool T::*, std::string T::*>;
  struct Field {
    std::string name;
    Member member;
  };
  const Field* find(const std::string& key) const {
    for (const auto& f : fields_) {
      if (f.name == key) return &f;
    }
    return nullptr;
  }
  static void assign(double& out, const nlohmann::json& v, const std::string& what) {
    out = options_detail::read_double(v, what);
  }
  static void assign(int64_t& out, const nlohmann::json& v, const std::string& what) {
    out = options_detail::read_int(v, what);
  }
  static void assign(uint64_t& out, const nlohmann::json& v, const std::string& what) {
    out = options_detail::read_uint(v, what);
  }
  static void assign(bool& out, const nlohmann::json& v, const std::string& what) {
    out = options_detail::read_bool(v, what);
  }
  static void assign(std::string& out, const nlohmann::json& v, const std::string& what) {
    out = options_detail::read_string(v, what);
  }
  std::vector<Field> fields_;
};

}  // namespace mirage
