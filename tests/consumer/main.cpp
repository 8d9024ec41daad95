// Built against the installed package: puts, reads back, exits 0 only if all is well. With
// S4DB_CONSUMER_S3 it also calls the S3 store (against a port nobody listens on), so the
// program links libcurl, libcrypto and pugixml as an S3 user's would.
#include <filesystem>
#include <iostream>
#include <s4db/s4db.hpp>
#ifdef S4DB_CONSUMER_S3
#include <s4db/store/s3.hpp>
#endif

int main() {
  s4db::basic_db<s4db::memory_store, s4db::snappy_codec, s4db::flat_index> db{s4db::memory_store{}};
  db.put("consumer", "works");
  bool ok = db.get("consumer") == "works";
  db.upload();  // so the temporary working directory is removed, not kept
#ifdef S4DB_CONSUMER_S3
  s4db::s3_config cfg;
  cfg.bucket = "consumer";
  cfg.endpoint = "http://127.0.0.1:9";  // discard: nothing answers, so this is a store_error
  cfg.region = "us-east-1";
  cfg.access_key_id = "AKIDEXAMPLE";
  cfg.secret_access_key = "consumer";
  cfg.max_attempts = 1;
  try {
    s4db::s3_store{cfg}.head("index.idx");
    ok = false;
  } catch (const s4db::store_error& e) {
    std::cout << "consumer: S3 store linked and reached the network (" << e.what() << ")\n";
  }
#endif
  std::cout << "consumer: " << (ok ? "ok" : "FAILED") << " (s4db " << s4db::version_major << '.' << s4db::version_minor
            << '.' << s4db::version_patch << ")\n";
  return ok ? 0 : 1;
}
