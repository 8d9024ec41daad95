// A change to format 3's manifest that is not a commit of writes: a merge's replacement of
// segments, a checkpoint's pin added or dropped. It needs no index in memory: the edit is
// applied to the manifest as the store has it, committed under If-Match, and on a lost
// race applied again to the winner's (the edit may give up there). A commit whose outcome
// is unknown is settled by reading it back, as an index commit is (detail/bucket.hpp).
#pragma once

#include <optional>
#include <string>
#include <utility>

#include "../concepts.hpp"
#include "../detail/bucket.hpp"
#include "../error.hpp"
#include "../format/manifest.hpp"

namespace s4db {
inline namespace v0 {
namespace engine {

// What an edit committed: the ETag of the manifest it was applied to, and the manifest.
struct manifest_edit {
  std::string base_etag;
  object committed;
  format::manifest m;
};

// Applies `edit` (format::manifest& -> bool: false gives up) to the published manifest
// (`published`, when just read; else read now) and commits it, again on each lost race,
// up to `attempts` times (then conflict_error). nullopt: the edit gave up, or there is no
// manifest. Bumps the number and the time (by `clock`, options::clock).
template <class Store, class Edit>
std::optional<manifest_edit> edit_manifest(const detail::bucket<Store>& bucket, std::optional<object> published,
                                           Edit&& edit, const std::string& what, const clock_source& clock,
                                           int attempts = 8) {
  for (int attempt = 0; attempt < attempts; ++attempt) {
    if (!published || attempt > 0) published = bucket.get_index();
    if (!published) return std::nullopt;
    auto m = format::decode_manifest(published->data, bucket.index_key());
    if (!edit(m)) return std::nullopt;
    m.number += 1;
    m.written_ms = format::unix_ms_now(clock);
    format::drop_old_retired(m, m.written_ms);
    std::string bytes = format::encode_manifest(m);
    bool unknown = false;
    try {
      std::string etag = bucket.commit_index(bytes, put_condition::when_matching(published->etag), &unknown);
      return manifest_edit{published->etag, object{std::move(bytes), std::move(etag)}, std::move(m)};
    } catch (const conflict_error&) {
      // another commit came first: the edit again, on it
    }
  }
  detail::throw_conflict(what + ": other commits of " + bucket.index_key() + " came first " + std::to_string(attempts) +
                         " times in a row; nothing was changed");
}

}  // namespace engine
}  // namespace v0
}  // namespace s4db
