# fw_add_driver(MODEL TARGET LIB ARENA_BYTES INPUTS PROFILE PLATFORM_SOURCES...)
# Adds executable TARGET: mcu/fw_main.c driving the MLPerf Tiny model MODEL
# (ic, kws, vww, or the float variants ic_f, kws_f, vww_f) embedded from FR_ASSETS by
# tools/py/embed_model.py, with a static arena of ARENA_BYTES, linked with LIB.
# TREC (docs/trec_bench.md): MODEL ic_trec is the IC model with a TREC sidecar made at
# build time by `tools/py/trec_tflite.py make` (arguments FW_TREC_MAKE_ARGS, default
# L = 8, H = 12, 6 calibration images), or the sidecar file FW_TREC_ic_trec when set.
# Any MODEL may be defined by the caller: FW_MODEL_PATH_<model> (a .tflite path),
# FW_CIFAR_<model> (1: CIFAR-10 inputs, needs an int8 [1,32,32,3] input) and
# FW_TREC_<model> (a sidecar path: the firmware runs TREC).
# Used by mcu/CMakeLists.txt (firmware and its host twin) and tests/mcu/CMakeLists.txt
# (the host twin linked with the full libfrugal, so it also runs under ASan/UBSan).
# Returns silently (with a warning) when the asset is missing.
set(FW_MODEL_FILE_ic "cnn/mlperf-tiny/ic/pretrainedResnet_quant.tflite")
set(FW_MODEL_FILE_kws "cnn/mlperf-tiny/kws/kws_ref_model.tflite")
set(FW_MODEL_FILE_vww "cnn/mlperf-tiny/vww/vww_96_int8.tflite")
set(FW_MODEL_FILE_ic_f "cnn/mlperf-tiny/ic/pretrainedResnet.tflite")
set(FW_MODEL_FILE_kws_f "cnn/mlperf-tiny/kws/kws_ref_model_float32.tflite")
set(FW_MODEL_FILE_vww_f "cnn/mlperf-tiny/vww/vww_96_float.tflite")
set(FW_MODEL_FILE_ic_trec "${FW_MODEL_FILE_ic}")
set(FW_TREC_MAKE_ARGS "--L;8;--H;12;--calib;6" CACHE STRING
    "trec_tflite.py make arguments for the ic_trec sidecar")
set(FW_DIR "${CMAKE_CURRENT_LIST_DIR}")
get_filename_component(FW_ROOT "${CMAKE_CURRENT_LIST_DIR}/.." ABSOLUTE)

# fw_trec_tools_ok(VAR): VAR = TRUE when FR_PYTHON can run tools/py/trec_tflite.py make
# (NumPy and PyTorch importable), which model ic_trec needs at build time.
function(fw_trec_tools_ok var)
  if(NOT DEFINED FW_TREC_TOOLS_OK)
    execute_process(COMMAND ${FR_PYTHON} -c "import numpy, torch"
                    RESULT_VARIABLE rc OUTPUT_QUIET ERROR_QUIET)
    if(rc EQUAL 0)
      set(FW_TREC_TOOLS_OK TRUE CACHE INTERNAL "")
    else()
      set(FW_TREC_TOOLS_OK FALSE CACHE INTERNAL "")
    endif()
  endif()
  set(${var} ${FW_TREC_TOOLS_OK} PARENT_SCOPE)
endfunction()

function(fw_add_driver model target lib arena_bytes inputs profile)
  set(platform ${ARGN})
  if(DEFINED FW_MODEL_PATH_${model})
    set(src "${FW_MODEL_PATH_${model}}")
  elseif(DEFINED FW_MODEL_FILE_${model})
    set(src "${FR_ASSETS}/${FW_MODEL_FILE_${model}}")
  else()
    message(FATAL_ERROR "fw_add_driver: unknown model '${model}'")
  endif()
  if(NOT EXISTS "${src}")
    message(STATUS "frugal mcu: ${src} not found, skipping ${target}")
    return()
  endif()
  set(dir "${CMAKE_CURRENT_BINARY_DIR}/fw_gen")
  set(gen "${dir}/model_${model}.c")
  add_custom_command(OUTPUT ${gen}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${dir}
    COMMAND ${FR_PYTHON} ${FW_ROOT}/tools/py/embed_model.py ${src} ${gen} --name fw_model --tflite
    DEPENDS ${src} ${FW_ROOT}/tools/py/embed_model.py VERBATIM)
  set(extra)
  set(cifar 0)
  if(model STREQUAL "ic" OR model STREQUAL "ic_trec" OR FW_CIFAR_${model})
    set(cifar_bin "${FR_ASSETS}/cnn/cifar10/test_batch.bin")
    if(NOT EXISTS "${cifar_bin}")
      message(STATUS "frugal mcu: ${cifar_bin} not found, skipping ${target}")
      return()
    endif()
    # Test images k * 1000 + k (k = 0..inputs-1): the file is sorted by class, so this
    # takes one image of each class in turn (airplane, automobile, bird, ...).
    set(slices "")
    math(EXPR last "${inputs} - 1")
    foreach(k RANGE ${last})
      math(EXPR off "((${k} % 10) * 1000 + ${k}) * 3073")
      list(APPEND slices "${off}:3073")
    endforeach()
    string(REPLACE ";" "," slices "${slices}")
    set(cgen "${dir}/cifar_${inputs}.c")
    add_custom_command(OUTPUT ${cgen}
      COMMAND ${CMAKE_COMMAND} -E make_directory ${dir}
      COMMAND ${FR_PYTHON} ${FW_ROOT}/tools/py/embed_model.py ${cifar_bin} ${cgen} --name fw_cifar
              --slices ${slices} --align 4
      DEPENDS ${cifar_bin} ${FW_ROOT}/tools/py/embed_model.py VERBATIM)
    set(extra ${cgen})
    set(cifar 1)
  endif()
  set(trec 0)
  set(tsrc "")
  if(DEFINED FW_TREC_${model})
    set(tsrc "${FW_TREC_${model}}")
  elseif(model STREQUAL "ic_trec")
    # post-training sidecar (pca+c) from calibration images disjoint from the inputs above
    fw_trec_tools_ok(tools_ok)
    if(NOT tools_ok)
      message(STATUS "frugal mcu: ${FR_PYTHON} cannot import numpy and torch, skipping ${target}")
      return()
    endif()
    set(tsrc "${dir}/${model}.trec")
    add_custom_command(OUTPUT ${tsrc}
      COMMAND ${CMAKE_COMMAND} -E make_directory ${dir}
      COMMAND ${FR_PYTHON} ${FW_ROOT}/tools/py/trec_tflite.py make ${src} ${tsrc}
              --cifar ${FR_ASSETS}/cnn/cifar10/test_batch.bin ${FW_TREC_MAKE_ARGS}
      DEPENDS ${src} ${FW_ROOT}/tools/py/trec_tflite.py VERBATIM)
  endif()
  if(NOT tsrc STREQUAL "")
    set(tgen "${dir}/trec_${model}.c")
    add_custom_command(OUTPUT ${tgen}
      COMMAND ${CMAKE_COMMAND} -E make_directory ${dir}
      COMMAND ${FR_PYTHON} ${FW_ROOT}/tools/py/embed_model.py ${tsrc} ${tgen} --name fw_trec
              --align 16
      DEPENDS ${tsrc} ${FW_ROOT}/tools/py/embed_model.py VERBATIM)
    list(APPEND extra ${tgen})
    set(trec 1)
  endif()
  # The arena lives in its own generated file, so resizing it recompiles only that file.
  set(agen "${dir}/arena_${target}.c")
  set(acontent "/* Generated by mcu/fw_driver.cmake: the static tensor arena (.bss). */\n#include <stddef.h>\n#include <stdint.h>\n#include \"frugal.h\"\nextern uint8_t fw_arena[];\nextern const size_t fw_arena_bytes;\n_Alignas(FR_CNN_ALIGN) uint8_t fw_arena[${arena_bytes}];\nconst size_t fw_arena_bytes = ${arena_bytes};\n")
  set(old "")
  if(EXISTS "${agen}")
    file(READ "${agen}" old)
  endif()
  if(NOT old STREQUAL acontent)
    file(WRITE "${agen}" "${acontent}")
  endif()
  add_executable(${target} ${FW_DIR}/fw_main.c ${gen} ${agen} ${extra} ${platform})
  target_link_libraries(${target} PRIVATE ${lib})
  target_include_directories(${target} PRIVATE ${FW_DIR} ${FW_ROOT}/include)
  target_compile_definitions(${target} PRIVATE FW_MODEL_NAME="${model}" FW_INPUTS=${inputs}
                             FW_CIFAR=${cifar} FW_TREC=${trec} FW_PROFILE=$<BOOL:${profile}>)
endfunction()
