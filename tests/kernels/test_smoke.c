#include "lt.h"
#include "loom/fp8.h"
static void test_e4m3_one(struct lt *t) { LT_CHECK(t, fp8_e4m3_from_f32(1.0f, true) == 0x38, "got %#x", fp8_e4m3_from_f32(1.0f, true)); }
static const struct lt_case cases[] = { LT_CASE(test_e4m3_one) };
int main(int argc, char **argv) { return lt_main(argc, argv, cases, LT_N(cases)); }
