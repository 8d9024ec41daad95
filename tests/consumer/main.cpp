// Built against the installed package: puts, reads back, exits 0 only if all is well.
#include <filesystem>
#include <iostream>
#include <s4db/s4db.hpp>
#ifdef S4DB_CONSUMER_S3
#include <s4db/store/s3.hpp>
static_assert(s4db::store<s4db::s3_store>);
#endif

int main() {
  s4db::basic_db<s4db::memory_store, s4db::snappy_codec, s4db::flat_index> db{s4db::memory_store{}};
  db.put("consumer", "works");
  const bool ok = db.get("consumer") == "works";
  db.upload();  // so the temporary working directory is removed, not kept
  std::cout << "consumer: " << (ok ? "ok" : "FAILED") << " (s4db " << s4db::version_major << '.' << s4db::version_minor
            << '.' << s4db::version_patch << ")\n";
  return ok ? 0 : 1;
}
