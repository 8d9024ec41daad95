// Format 3's checkpoints (docs/format.md, "Checkpoints"): a name that pins a published
// state. checkpoint(name) writes a copy of the manifest (checkpoint_NNNNNNNN_<name>.s4m)
// and then commits the manifest with a pin naming it; every later commit, merge and
// compaction carries the pin on, and gc keeps every object a pinned copy names, and the
// copy. drop_checkpoint(name) commits the manifest without the pin; gc then deletes the
// copy and what only it named, once they are older than its grace. A db opened with
// options::checkpoint reads the copy as its index, read-only. Stateless.
#pragma once

#include <algorithm>
#include <optional>
#include <string>

#include "../detail/bucket.hpp"
#include "../error.hpp"
#include "../format/manifest.hpp"
#include "manifest_edit.hpp"

namespace s4db {
inline namespace v0 {
namespace engine {

template <class Store>
class checkpoints {
 public:
  checkpoints(const detail::bucket<Store>& bucket, clock_source clock) : bucket_(bucket), clock_(std::move(clock)) {}

  // Pins the published state as `name`. usage_error when the name is taken or not a valid
  // one, or nothing is published yet.
  manifest_edit create(const std::string& name) {
    check_name(name);
    auto edit = edit_manifest(
        bucket_, std::nullopt,
        [&](format::manifest& m) {
          if (find(m, name) != m.pins.end())
            detail::throw_usage("checkpoint: there is a checkpoint named '" + name +
                                "' already (drop_checkpoint() it first); nothing was changed");
          const format::manifest::pin pin{name, m.number};
          bucket_.store().put(bucket_.key(format::checkpoint_object(pin)), format::encode_manifest(m), {});
          m.pins.insert(std::upper_bound(m.pins.begin(), m.pins.end(), pin,
                                         [](const auto& a, const auto& b) { return a.name < b.name; }),
                        pin);
          return true;
        },
        "checkpoint", clock_);
    if (!edit)
      detail::throw_usage("checkpoint: nothing is published under '" + bucket_.prefix() +
                          "' yet (upload() first); nothing was changed");
    return std::move(*edit);
  }

  // Unpins `name`; nullopt when there is no such checkpoint.
  std::optional<manifest_edit> drop(const std::string& name) {
    check_name(name);
    return edit_manifest(
        bucket_, std::nullopt,
        [&](format::manifest& m) {
          const auto it = find(m, name);
          if (it == m.pins.end()) return false;
          m.pins.erase(it);
          return true;
        },
        "drop_checkpoint", clock_);
  }

 private:
  static auto find(format::manifest& m, const std::string& name) {
    return std::find_if(m.pins.begin(), m.pins.end(), [&](const auto& p) { return p.name == name; });
  }

  static void check_name(const std::string& name) {
    if (!format::valid_checkpoint_name(name))
      detail::throw_usage("checkpoint: '" + name + "' is not a checkpoint name (1 to 64 of A-Z a-z 0-9 . _ -)");
  }

  const detail::bucket<Store>& bucket_;
  clock_source clock_;
};

}  // namespace engine
}  // namespace v0
}  // namespace s4db
