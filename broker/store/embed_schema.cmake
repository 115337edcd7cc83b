# Embeds the schema files into a C++ source (run with cmake -P at build time).
#   -DSOURCE_DIR=<broker/store>  -DOUTPUT=<.cpp>  -DTEMPLATE=<schema_files.cpp.in>
#   -DSQLITE_FILES=a.sql,b.sql  -DPOSTGRESQL_FILES=a.sql,b.sql   (relative to SOURCE_DIR, in order)
# Each file must be named NNN_description.sql, numbered 001, 002, ... without gaps.

function(tb_embed_entries files out_var)
  set(entries "")
  set(expected 1)
  foreach(file IN LISTS files)
    get_filename_component(name "${file}" NAME)
    if(NOT name MATCHES "^([0-9][0-9][0-9])_([a-z0-9_]+)\\.sql$")
      message(FATAL_ERROR "schema file ${file}: name must be NNN_description.sql")
    endif()
    set(description "${CMAKE_MATCH_2}")
    math(EXPR version "${CMAKE_MATCH_1}")
    if(NOT version EQUAL expected)
      message(FATAL_ERROR "schema file ${file}: expected version ${expected}, got ${version}")
    endif()
    math(EXPR expected "${expected} + 1")
    file(READ "${SOURCE_DIR}/${file}" sql)
    string(FIND "${sql}" ")tbsql\"" clash)
    if(NOT clash EQUAL -1)
      message(FATAL_ERROR "schema file ${file} contains the raw-string delimiter )tbsql\"")
    endif()
    string(APPEND entries "    {${version}, \"${description}\", R\"tbsql(${sql})tbsql\"},\n")
  endforeach()
  set(${out_var} "${entries}" PARENT_SCOPE)
endfunction()

# Lists arrive comma-separated (a ";" would split the command line).
string(REPLACE "," ";" SQLITE_FILES "${SQLITE_FILES}")
string(REPLACE "," ";" POSTGRESQL_FILES "${POSTGRESQL_FILES}")
tb_embed_entries("${SQLITE_FILES}" SQLITE_ENTRIES)
tb_embed_entries("${POSTGRESQL_FILES}" POSTGRESQL_ENTRIES)
# configure_file leaves the output alone when its content is unchanged.
configure_file("${TEMPLATE}" "${OUTPUT}" @ONLY)
