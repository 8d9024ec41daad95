// Everything, for include-and-go: the engine, the local stores, both codecs and all three
// indexes. Needs libsnappy, ISA-L and robin-map. The S3 store comes with store/s3.hpp.
#pragma once

#include "codec/identity.hpp"
#include "codec/snappy.hpp"
#include "concepts.hpp"
#include "db.hpp"
#include "detail/require_cxx20.hpp"  // a pre-C++20 build stops here, with one line
#include "error.hpp"
#include "fwd.hpp"
#include "index/compact.hpp"
#include "index/flat.hpp"
#include "index/ordered.hpp"
#include "index/unordered.hpp"
#include "maintenance.hpp"
#include "options.hpp"
#include "store/fs.hpp"
#include "store/memory.hpp"
#include "version.hpp"
