# Proto generation for the whole tree (the main build, tests/support and the
# separate fuzz/ project include this file). Generated code goes to
# SERPWOW_GEN_DIR = ${CMAKE_BINARY_DIR}/gen only, never into the source tree.
#
# serpwow_proto_library(<target>
#     ROOT <dir>            import root the PROTOS are relative to (passed as -I)
#     PROTOS <rel.proto>... e.g. serpwow/batches/v1/resources.proto
#     [GRPC]                also run grpc_cpp_plugin (.grpc.pb.{h,cc}; links gRPC::grpc++)
#     [DEPS <target>...])   proto libraries the PROTOS import (linked PUBLIC)
#
# Makes a STATIC library <target> from <rel>.pb.cc (and .grpc.pb.cc), with
# SERPWOW_GEN_DIR as a SYSTEM include directory so that our warning flags never
# apply to generated headers. Imports resolve through ROOT, the roots of DEPS
# (transitively) and protoc's own include directory (google/protobuf/*). A
# change to any imported .proto of DEPS regenerates the target.
#
# serpwow_proto_descriptor_set(<target>
#     OUTPUT <file>         e.g. ${SERPWOW_GEN_DIR}/serpwow_batches_v1.binpb
#     LIBRARIES <target>... proto libraries whose PROTOS go in, with every import)
#
# Makes an ALL custom target <target> that writes a FileDescriptorSet
# (protoc --include_imports --include_source_info) of those files.
include_guard(GLOBAL)

# A cache entry, so that every directory that calls the functions sees it.
set(SERPWOW_GEN_DIR ${CMAKE_BINARY_DIR}/gen CACHE INTERNAL "Generated proto code")
file(MAKE_DIRECTORY ${SERPWOW_GEN_DIR})

if(NOT TARGET protobuf::protoc)
  find_package(Protobuf REQUIRED)  # module mode: Debian ships no protobuf-config.cmake
endif()

# The -I list, the .proto files (absolute) and the proto libraries of `targets`
# and everything they depend on, in a stable order, without repeats.
function(_serpwow_proto_collect out_dirs out_files targets)
  set(_dirs)
  set(_files)
  set(_todo ${targets})
  set(_seen)
  while(_todo)
    list(POP_FRONT _todo _t)
    if(_t IN_LIST _seen)
      continue()
    endif()
    list(APPEND _seen ${_t})
    get_target_property(_d ${_t} SERPWOW_PROTO_ROOT)
    get_target_property(_f ${_t} SERPWOW_PROTO_FILES)
    get_target_property(_deps ${_t} SERPWOW_PROTO_DEPS)
    if(NOT _d)
      message(FATAL_ERROR "${_t} is not a serpwow_proto_library")
    endif()
    list(APPEND _dirs ${_d})
    list(APPEND _files ${_f})
    if(_deps)
      list(APPEND _todo ${_deps})
    endif()
  endwhile()
  list(REMOVE_DUPLICATES _dirs)
  list(REMOVE_DUPLICATES _files)
  set(${out_dirs} ${_dirs} PARENT_SCOPE)
  set(${out_files} ${_files} PARENT_SCOPE)
endfunction()

function(serpwow_proto_library target)
  cmake_parse_arguments(PARSE_ARGV 1 ARG "GRPC" "ROOT" "PROTOS;DEPS")
  if(NOT ARG_ROOT OR NOT ARG_PROTOS)
    message(FATAL_ERROR "serpwow_proto_library(${target}): ROOT and PROTOS are required")
  endif()
  if(ARG_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "serpwow_proto_library(${target}): unknown ${ARG_UNPARSED_ARGUMENTS}")
  endif()
  if(ARG_GRPC AND NOT TARGET gRPC::grpc_cpp_plugin)
    message(FATAL_ERROR "serpwow_proto_library(${target}) GRPC needs find_package(gRPC)")
  endif()

  set(_abs)
  foreach(_p ${ARG_PROTOS})
    if(NOT EXISTS ${ARG_ROOT}/${_p})
      message(FATAL_ERROR "${ARG_ROOT}/${_p} not found (see scripts/install-deps.sh)")
    endif()
    list(APPEND _abs ${ARG_ROOT}/${_p})
  endforeach()

  set(_include_args -I ${ARG_ROOT})
  set(_dep_files)
  if(ARG_DEPS)
    _serpwow_proto_collect(_dep_dirs _dep_files "${ARG_DEPS}")
    foreach(_d ${_dep_dirs})
      if(NOT _d STREQUAL ARG_ROOT)
        list(APPEND _include_args -I ${_d})
      endif()
    endforeach()
  endif()

  set(_sources)
  foreach(_p ${ARG_PROTOS})
    string(REGEX REPLACE "\\.proto$" "" _stem ${_p})
    set(_out ${SERPWOW_GEN_DIR}/${_stem}.pb.cc ${SERPWOW_GEN_DIR}/${_stem}.pb.h)
    set(_args --cpp_out=${SERPWOW_GEN_DIR})
    set(_tools protobuf::protoc)
    if(ARG_GRPC)
      list(APPEND _out ${SERPWOW_GEN_DIR}/${_stem}.grpc.pb.cc ${SERPWOW_GEN_DIR}/${_stem}.grpc.pb.h)
      list(APPEND _args --grpc_out=${SERPWOW_GEN_DIR}
           --plugin=protoc-gen-grpc=$<TARGET_FILE:gRPC::grpc_cpp_plugin>)
      list(APPEND _tools gRPC::grpc_cpp_plugin)
      list(APPEND _sources ${SERPWOW_GEN_DIR}/${_stem}.grpc.pb.cc)
    endif()
    list(APPEND _sources ${SERPWOW_GEN_DIR}/${_stem}.pb.cc)
    # Every file of this library is a dependency of each: a sibling may be
    # imported, and over-regenerating a few small files costs nothing.
    add_custom_command(
      OUTPUT ${_out}
      COMMAND protobuf::protoc ARGS ${_args} ${_include_args} ${ARG_ROOT}/${_p}
      DEPENDS ${_abs} ${_dep_files} ${_tools}
      COMMENT "protoc ${_p}"
      VERBATIM)
  endforeach()

  add_library(${target} STATIC ${_sources})
  target_include_directories(${target} SYSTEM PUBLIC ${SERPWOW_GEN_DIR})
  target_link_libraries(${target} PUBLIC protobuf::libprotobuf ${ARG_DEPS})
  if(ARG_GRPC)
    target_link_libraries(${target} PUBLIC gRPC::grpc++)
  endif()
  set_target_properties(${target} PROPERTIES
    SERPWOW_PROTO_ROOT ${ARG_ROOT}
    SERPWOW_PROTO_FILES "${_abs}"
    SERPWOW_PROTO_DEPS "${ARG_DEPS}")
endfunction()

function(serpwow_proto_descriptor_set target)
  cmake_parse_arguments(PARSE_ARGV 1 ARG "" "OUTPUT" "LIBRARIES")
  if(NOT ARG_OUTPUT OR NOT ARG_LIBRARIES)
    message(FATAL_ERROR "serpwow_proto_descriptor_set(${target}): OUTPUT and LIBRARIES are required")
  endif()
  _serpwow_proto_collect(_dirs _files "${ARG_LIBRARIES}")
  set(_include_args)
  foreach(_d ${_dirs})
    list(APPEND _include_args -I ${_d})
  endforeach()
  set(_inputs)
  foreach(_lib ${ARG_LIBRARIES})
    get_target_property(_own ${_lib} SERPWOW_PROTO_FILES)
    list(APPEND _inputs ${_own})
  endforeach()
  add_custom_command(
    OUTPUT ${ARG_OUTPUT}
    COMMAND protobuf::protoc ARGS --include_imports --include_source_info
            --descriptor_set_out=${ARG_OUTPUT} ${_include_args} ${_inputs}
    DEPENDS ${_files} protobuf::protoc
    COMMENT "protoc descriptor set ${ARG_OUTPUT}"
    VERBATIM)
  add_custom_target(${target} ALL DEPENDS ${ARG_OUTPUT})
endfunction()
