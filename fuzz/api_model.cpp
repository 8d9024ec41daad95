// Fuzz target: the whole API on memory_store against a std::map model. Each input is a
// program of operations (put, batch put, erase, get, flush, upload, compact, rebuild,
// reopen); after every step the db must agree with the model.
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <s4db/s4db.hpp>
#include <string>

namespace {

using db_type = s4db::basic_db<s4db::memory_store, s4db::snappy_codec, s4db::ordered_index>;

struct reader {
  const std::uint8_t* data;
  std::size_t size, pos = 0;
  bool more() const { return pos < size; }
  std::uint8_t byte() { return pos < size ? data[pos++] : 0; }
  std::string key() { return "k" + std::to_string(byte() % 24); }
  std::string value() {
    std::string v(byte() % 64, '\0');
    for (auto& c : v) c = static_cast<char>(byte());
    return v;
  }
};

void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::filesystem::path local =
      std::filesystem::temp_directory_path() / ("s4db-fuzz-" + std::to_string(::getpid()));
  std::filesystem::remove_all(local);
  s4db::memory_store store;
  s4db::options opt;
  opt.local_dir = local;
  opt.max_file_size = 256;
  opt.index_save_interval = 512;
  opt.log = [](s4db::log_level, std::string_view) {};
  auto db = std::make_unique<db_type>(store, opt);
  std::map<std::string, std::string> model;
  reader in{data, size};
  while (in.more()) {
    switch (in.byte() % 10) {
      case 0:
      case 1: {
        auto k = in.key();
        auto v = in.value();
        db->put(k, v);
        model[k] = v;
        break;
      }
      case 2: {
        std::map<std::string, std::string> batch;
        for (int n = in.byte() % 5; n > 0; --n) batch[in.key()] = in.value();
        db->put(batch);
        for (auto& [k, v] : batch) model[k] = v;
        break;
      }
      case 3: {
        auto k = in.key();
        db->erase(k);
        model.erase(k);
        break;
      }
      case 4: {
        auto k = in.key();
        auto it = model.find(k);
        check(db->get(k) == (it == model.end() ? std::nullopt : std::optional<std::string>(it->second)));
        break;
      }
      case 5:
        db->flush();
        break;
      case 6:
        db->upload();
        break;
      case 7:
        db->compact();
        break;
      case 8:
        db->rebuild_index();
        break;
      case 9:
        db.reset();
        db = std::make_unique<db_type>(store, opt);
        break;
    }
    check(db->size() == model.size());
  }
  std::map<std::string, std::string> seen;
  for (auto&& [k, v] : db->items()) seen.emplace(k, v);
  check(seen == model);
  db.reset();
  std::filesystem::remove_all(local);
  return 0;
}
