# Run by CPack (CPACK_PRE_BUILD_SCRIPTS) on the staged install tree before
# it becomes a package: the test tools stay out of the .deb.
file(GLOB_RECURSE bpjs_test_tools
     "${CPACK_TEMPORARY_INSTALL_DIRECTORY}/*/bin/bpjs-mock"
     "${CPACK_TEMPORARY_INSTALL_DIRECTORY}/*/bin/bpjs-kafka-mock")
if(bpjs_test_tools)
  file(REMOVE ${bpjs_test_tools})
endif()
