# Included after rosidl_generate_interfaces() by every interface package this project builds
# (its own messages, and the hri_msgs-compatible package of the tests).
#
# The ROS 2 wheels on PyPI export `<pkg>__rosidl_generator_py` targets whose include
# directories point at the machine that built the wheels (/opt/python/...). Replace only the
# directories that do not exist with this interpreter's and numpy's: a no-op on a ROS distro.
get_property(_imported_targets DIRECTORY PROPERTY IMPORTED_TARGETS)
set(_me_fixed_includes "")
foreach(_target IN LISTS _imported_targets)
  if(NOT _target MATCHES "__rosidl_generator_py$")
    continue()
  endif()
  get_target_property(_includes ${_target} INTERFACE_INCLUDE_DIRECTORIES)
  if(NOT _includes)
    continue()
  endif()
  set(_needs_fix FALSE)
  foreach(_dir IN LISTS _includes)
    if(NOT _dir MATCHES "^\\$<" AND NOT EXISTS "${_dir}")
      set(_needs_fix TRUE)
    endif()
  endforeach()
  if(_needs_fix)
    if(NOT _me_fixed_includes)
      find_package(Python3 REQUIRED COMPONENTS Interpreter Development)
      execute_process(
        COMMAND "${Python3_EXECUTABLE}" -c "import numpy; print(numpy.get_include())"
        OUTPUT_VARIABLE _numpy_include OUTPUT_STRIP_TRAILING_WHITESPACE
        COMMAND_ERROR_IS_FATAL ANY)
      set(_me_fixed_includes "${Python3_INCLUDE_DIRS};${_numpy_include}")
      message(STATUS "me_perception: rewriting missing include directories of wheel-built "
        "rosidl_generator_py targets to ${_me_fixed_includes}")
    endif()
    set(_new_includes "")
    foreach(_dir IN LISTS _includes)
      if(_dir MATCHES "^\\$<" OR EXISTS "${_dir}")
        list(APPEND _new_includes "${_dir}")
      endif()
    endforeach()
    list(APPEND _new_includes ${_me_fixed_includes})
    list(REMOVE_DUPLICATES _new_includes)
    set_target_properties(${_target} PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${_new_includes}")
  endif()
endforeach()
