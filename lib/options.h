// lib/options.h — one field list per options struct: it drives reading from JSON (config files,
// checkpoint config.json, -p key=value, flags given as text), writing back to JSON (reports,
// checkpoints) and the rejection of unknown keys, so a field is named once.
//
//   const OptionFields<AdvGanOptions>& fields() {
//     static const OptionFields<AdvGanOptions> f = OptionFields<AdvGanOptions>()
//         .add("eps", &AdvGanOptions::eps).add("epochs", &AdvGanOptions::epochs)
//         .add_range("blur_sigma", &X::blur_sigma_min, &X::blur_sigma_max)   // [min, max] or "min,max"
//         .add("steps", &X::search, &SearchOptions::steps);                 // a field of a member struct
//     return f;
//   }
//   fields().from_json(options, j, "runs/advgan/config.json");   // UsageError on unknown keys
//
// A config file with sections names its fields by path ("config.evasion.pgd_steps: must be >= 1"):
//   OptionFields<O>(Naming::kPath).add("samples", &O::samples).at_least(0)
//       .group("evasion", OptionFields<O>(Naming::kPath).add("pgd_steps", &O::pgd_steps).at_least(1))
//       .include(&Outer::inner, inner_fields)   // the fields of a member struct, at this level
//   fields().set(options, "eps", "8/255", "--eps");              // one field, from a flag's text
//   nlohmann::json j = fields().to_json(options);
//
// Values are read as users write them: numbers also as strings ("8/255", "1e-3"), booleans also
// as true/false/yes/no/1/0 strings, lists as JSON arrays or "a,b,c". A field may carry its bounds
// (at_least, within: every item of a list); checks across fields belong to the struct's own
// check (e.g. GanConfig::finalize), which runs after every field is set.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace mirage {

namespace options_detail {
// Value readers shared by every field list; `what` names the file and key for the UsageError.
double read_double(const nlohmann::json& v, const std::string& what);
int64_t read_int(const nlohmann::json& v, const std::string& what);
uint64_t read_uint(const nlohmann::json& v, const std::string& what);  // seeds: the full 64 bits
bool read_bool(const nlohmann::json& v, const std::string& what);
std::string read_string(const nlohmann::json& v, const std::string& what);
// A JSON array of values, or one string "a,b,c" split at commas ("none" or "": no items).
std::vector<nlohmann::json> read_list(const nlohmann::json& v, const std::string& what);
// UsageError "<what>: must be <expected>, got <v>".
[[noreturn]] void bad_value(const std::string& what, const std::string& expected, const nlohmann::json& v);
// UsageError unless lo <= d <= hi (lo < d when open_lo), with the bounds in the message.
void check_bounds(double d, double lo, double hi, bool open_lo, const std::string& what, const nlohmann::json& v);
[[noreturn]] void unknown_key(const std::string& source, const std::string& key, const std::vector<std::string>& known,
                              bool path_naming);
[[noreturn]] void not_an_object(const std::string& source);

inline void read(double& out, const nlohmann::json& v, const std::string& what) { out = read_double(v, what); }
inline void read(int64_t& out, const nlohmann::json& v, const std::string& what) { out = read_int(v, what); }
inline void read(uint64_t& out, const nlohmann::json& v, const std::string& what) { out = read_uint(v, what); }
inline void read(bool& out, const nlohmann::json& v, const std::string& what) { out = read_bool(v, what); }
inline void read(std::string& out, const nlohmann::json& v, const std::string& what) { out = read_string(v, what); }
inline void read(int& out, const nlohmann::json& v, const std::string& what) {
  const int64_t i = read_int(v, what);
  if (i < INT32_MIN || i > INT32_MAX) bad_value(what, "a 32-bit integer", v);
  out = static_cast<int>(i);
}
template <class V>
void read(std::vector<V>& out, const nlohmann::json& v, const std::string& what) {
  std::vector<V> values;
  const auto items = read_list(v, what);
  for (size_t i = 0; i < items.size(); ++i) {
    V x{};
    read(x, items[i], what + "[" + std::to_string(i) + "]");
    values.push_back(std::move(x));
  }
  out = std::move(values);
}
}  // namespace options_detail

// How messages name a field: kQuoted "runs/a/config.json: 'eps'" (a file or flags of one
// struct), kPath "config.evasion.eps" (a sectioned config file).
enum class Naming { kQuoted, kPath };

template <class T>
class OptionFields {
 public:
  explicit OptionFields(Naming naming = Naming::kQuoted) : naming_(naming) {}

  using Getter = std::function<nlohmann::json(const T&)>;
  using Setter = std::function<void(T&, const nlohmann::json&, const std::string& what)>;

  // A field of any type options_detail::read knows (numbers, bool, string, lists of them).
  template <class V>
  OptionFields& add(std::string name, V T::*member) {
    return add(std::move(name), Getter([member](const T& t) { return nlohmann::json(t.*member); }),
               Setter([member](T& t, const nlohmann::json& v, const std::string& what) {
                 options_detail::read(t.*member, v, what);
               }));
  }

  // A field of a member struct: add("steps", &Config::search, &SearchOptions::steps).
  template <class S, class V>
  OptionFields& add(std::string name, S T::*outer, V S::*member) {
    return add(std::move(name), Getter([outer, member](const T& t) { return nlohmann::json(t.*outer.*member); }),
               Setter([outer, member](T& t, const nlohmann::json& v, const std::string& what) {
                 options_detail::read(t.*outer.*member, v, what);
               }));
  }

  // Two members written as one [min, max] pair (or "min,max"); min <= max is checked, and
  // within/at_least bound both ends.
  template <class V>
  OptionFields& add_range(std::string name, V T::*lo, V T::*hi) {
    return add(std::move(name), Getter([lo, hi](const T& t) { return nlohmann::json::array({t.*lo, t.*hi}); }),
               Setter([lo, hi](T& t, const nlohmann::json& v, const std::string& what) {
                 std::vector<V> pair;
                 options_detail::read(pair, v, what);
                 if (pair.size() != 2 || pair[1] < pair[0]) options_detail::bad_value(what, "MIN,MAX (or [MIN, MAX]) with MIN <= MAX", v);
                 t.*lo = pair[0];
                 t.*hi = pair[1];
               }));
  }

  // Any other shape: how the field is written and read.
  OptionFields& add(std::string name, Getter get, Setter set) {
    fields_.push_back({std::move(name), std::move(get), std::move(set), nullptr});
    return *this;
  }

  // Bounds of the field added last (each item of a list): lo <= value <= hi, lo < value when open_lo.
  OptionFields& within(double lo, double hi, bool open_lo = false) {
    Field& f = fields_.back();
    f.set = [inner = f.set, get = f.get, lo, hi, open_lo](T& t, const nlohmann::json& v, const std::string& what) {
      inner(t, v, what);
      const nlohmann::json now = get(t);
      if (!now.is_array()) return options_detail::check_bounds(now.template get<double>(), lo, hi, open_lo, what, v);
      for (size_t i = 0; i < now.size(); ++i) {
        options_detail::check_bounds(now[i].template get<double>(), lo, hi, open_lo, what + "[" + std::to_string(i) + "]", now[i]);
      }
    };
    return *this;
  }
  OptionFields& at_least(double lo) { return within(lo, std::numeric_limits<double>::infinity()); }
  OptionFields& above(double lo) { return within(lo, std::numeric_limits<double>::infinity(), true); }

  // A section: a JSON object under `name` holding the fields of `section` (of the same struct).
  OptionFields& group(std::string name, OptionFields section) {
    auto shared = std::make_shared<const OptionFields>(std::move(section));
    add(std::move(name), Getter([shared](const T& t) { return shared->to_json(t); }),
        Setter([shared](T& t, const nlohmann::json& v, const std::string& what) {
          if (!v.is_object()) options_detail::bad_value(what, "an object", v);
          shared->from_json(t, v, what);
        }));
    fields_.back().section = shared;
    return *this;
  }

  // Every field of a member struct's list, at this level: include(&Audit::options, options_fields).
  template <class S>
  OptionFields& include(S T::*member, const OptionFields<S>& inner) {
    for (const auto& f : inner.fields_) {
      add(f.name, Getter([member, get = f.get](const T& t) { return get(t.*member); }),
          Setter([member, set = f.set](T& t, const nlohmann::json& v, const std::string& what) { set(t.*member, v, what); }));
    }
    return *this;
  }

  // Every field, in the order added (nlohmann::json objects list keys sorted).
  nlohmann::json to_json(const T& value) const {
    nlohmann::json j = nlohmann::json::object();
    for (const auto& f : fields_) j[f.name] = f.get(value);
    return j;
  }

  // Sets the fields `j` names; the rest keep their values. An unknown key, a wrong type or a
  // non-object is a UsageError naming `source` and the key. null leaves a field as it is.
  void from_json(T& value, const nlohmann::json& j, const std::string& source) const {
    if (!j.is_object()) options_detail::not_an_object(source);
    for (const auto& [key, v] : j.items()) {
      if (v.is_null()) {
        if (!find(key)) options_detail::unknown_key(source, key, names(), naming_ == Naming::kPath);
        continue;
      }
      set(value, key, v, naming_ == Naming::kPath ? source + "." + key : source + ": '" + key + "'", source);
    }
  }

  // Sets one field; `what` names it in a UsageError (e.g. the flag "--steps"), `source` in the
  // unknown-key error.
  // A key may name a field of a section: "evasion.pgd_steps".
  void set(T& value, const std::string& key, const nlohmann::json& v, const std::string& what,
           const std::string& source = "options") const {
    const size_t dot = key.find('.');
    if (dot != std::string::npos) {
      const Field* g = find(key.substr(0, dot));
      if (!g || !g->section) options_detail::unknown_key(source, key, names(), naming_ == Naming::kPath);
      return g->section->set(value, key.substr(dot + 1), v, what, source + "." + key.substr(0, dot));
    }
    const Field* f = find(key);
    if (!f) options_detail::unknown_key(source, key, names(), naming_ == Naming::kPath);
    f->set(value, v, what);
  }

  bool has(const std::string& key) const { return find(key) != nullptr; }

  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& f : fields_) out.push_back(f.name);
    return out;
  }

 private:
  template <class>
  friend class OptionFields;
  struct Field {
    std::string name;
    Getter get;
    Setter set;
    std::shared_ptr<const OptionFields> section;  // group() only
  };
  const Field* find(const std::string& key) const {
    for (const auto& f : fields_) {
      if (f.name == key) return &f;
    }
    return nullptr;
  }
  Naming naming_;
  std::vector<Field> fields_;
};

}  // namespace mirage
