// The main example: a database in a local directory standing in for a bucket (no server
// needed). Run it twice: the second run finds what the first one published.
#include <filesystem>
#include <iostream>
#include <s4db/s4db.hpp>

int main(int argc, char** argv) {
  const std::filesystem::path base = argc > 1 ? argv[1] : "s4db-example";

  s4db::options opt;
  opt.prefix = "my-db/";             // objects land in BUCKET/my-db/
  opt.local_dir = base / "working";  // the data files and local index

  s4db::basic_db<s4db::fs_store> db{s4db::fs_store{base / "bucket"}, opt};
  std::cout << "opened with " << db.size() << " keys\n";

  db.put({{"greeting", "hello"}, {"subject", "world"}});
  db.put("runs", std::to_string(std::stoi(db.get("runs").value_or("0")) + 1));
  db.erase("nothing-here");  // absent keys are skipped

  std::cout << *db.get("greeting") << ", " << *db.get("subject") << "! (run " << *db.get("runs") << ")\n";
  for (auto&& [key, value] : db.items()) std::cout << "  " << key << " = " << value << '\n';

  db.upload();   // publish data files, then the index, to the bucket
  db.compact();  // rewrite only the live entries; old files go
  std::cout << "published to " << (base / "bucket" / "my-db").string() << '\n';
}
