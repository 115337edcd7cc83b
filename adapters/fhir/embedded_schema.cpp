// The R4 JSON schema compiled into the library, so DefaultValidator() (and `trustbridge
// validate`) work from an installed binary with no source tree. `.incbin` copies the file's bytes
// at assembly time: a 3.3 MB string literal would cost the compiler minutes, this costs nothing.
#include "adapters/fhir/embedded_schema.h"

#ifndef TB_FHIR_SCHEMA_PATH
#error "TB_FHIR_SCHEMA_PATH must be defined by adapters/fhir/CMakeLists.txt"
#endif

__asm__(
    ".pushsection .rodata\n"
    ".balign 16\n"
    "tb_fhir_embedded_schema_begin:\n"
    ".incbin \"" TB_FHIR_SCHEMA_PATH
    "\"\n"
    "tb_fhir_embedded_schema_end:\n"
    ".byte 0\n"
    ".popsection\n");

extern "C" const char tb_fhir_embedded_schema_begin[];
extern "C" const char tb_fhir_embedded_schema_end[];

namespace tb::fhir {

std::string_view EmbeddedSchema() {
  return {tb_fhir_embedded_schema_begin,
          static_cast<std::size_t>(tb_fhir_embedded_schema_end - tb_fhir_embedded_schema_begin)};
}

}  // namespace tb::fhir
