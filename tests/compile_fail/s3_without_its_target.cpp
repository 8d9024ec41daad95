// store/s3.hpp in a program linked without s4db::s3 stops at compile time with one line
// naming the target, not at the link with dozens of undefined curl_* references.
#include <s4db/store/s3.hpp>

int main() { return 0; }
