// The ground every part of basic_db stands on, owned once per db: the store, the
// options, the bucket (the published objects under the prefix), the working copy (the
// local directory), the publisher (object transfers and the index commit), the files its
// snapshots pin, and the db's lock. Parts hold a reference to it and own only their own state (docs/architecture.md).
//
// Locking: `mutex` is the db's one reader-writer lock. basic_db's public calls take it:
// shared for reads, exclusive for writes and maintenance. The reader alone takes it
// itself, briefly, because a read drops it during its I/O.
#pragma once

#include <chrono>
#include <memory>
#include <shared_mutex>
#include <string>
#include <utility>
#include <vector>

#include "../concepts.hpp"
#include "../detail/bucket.hpp"
#include "../detail/log.hpp"
#include "../detail/publisher.hpp"
#include "../detail/working_copy.hpp"
#include "../error.hpp"
#include "../options.hpp"
#include "pins.hpp"

namespace s4db {
inline namespace v0 {
namespace engine {

template <class Store>
struct context {
  context(Store s, options o)
      : store(std::move(s)),
        opt(std::move(o)),
        bucket(store, opt.prefix, opt.format_version),
        copy(opt.max_file_size, opt.sync, data_format(), opt.log) {}

  mutable Store store;
  const options opt;
  detail::bucket<Store> bucket;
  detail::working_copy copy;
  detail::publisher<Store> publisher{store, bucket, copy, opt};

  // The data files this db's snapshots read: gc() spares them (engine/snapshot.hpp).
  std::shared_ptr<pin_registry> pins = std::make_shared<pin_registry>();

  mutable std::shared_mutex mutex;  // readers share it; writers and maintenance own it
  bool closed = false;

  // The format of the data files written: format 3's are format 2's.
  int data_format() const { return opt.format_version == 3 ? 2 : opt.format_version; }

  // Whether this copy holds writes that no commit of it is known to have published.
  bool unpublished() const { return copy.state().unpublished; }

  void check_open() const {
    if (closed) detail::throw_usage("the db is closed");
  }

  // A db opened at a checkpoint is read-only.
  void check_writable(const char* what) const {
    check_open();
    if (opt.checkpoint)
      detail::throw_usage(std::string(what) + ": the db is open read-only at checkpoint '" + *opt.checkpoint +
                          "'; nothing was changed");
  }

  void log(log_level level, const std::string& message) const { detail::log(opt.log, level, message); }

  // options::clock's time (the system's by default).
  std::chrono::system_clock::time_point now() const {
    return opt.clock ? opt.clock() : std::chrono::system_clock::now();
  }

  std::string where(const location& loc) const {
    return bucket.data_key(loc.file) + " at offset " + std::to_string(loc.offset);
  }

  // Removes a local data file nothing needs any more; a failure only leaves garbage.
  void remove_local_quietly(file_id n) {
    try {
      copy.remove_data_file(n);
    } catch (const error& e) {
      log(log_level::warning, e.what());
    }
  }

  static std::string describe_etag(const std::string& etag) { return etag.empty() ? "(none)" : etag; }

  static std::string join(const std::vector<std::string>& names) {
    std::string out;
    for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
    return out;
  }
};

}  // namespace engine
}  // namespace v0
}  // namespace s4db
