bpjs_unit_test(nik bpjs_common)
bpjs_unit_test(event bpjs_common)
bpjs_unit_test(config bpjs_common)
bpjs_unit_test(decide bpjs_daemon)
bpjs_integration_test(pipeline)
bpjs_unit_test(nikset bpjs_daemon)
bpjs_unit_test(push bpjs_daemon)
bpjs_integration_test(faults)
bpjs_integration_test(outages)
bpjs_unit_test(journal bpjs_daemon)
bpjs_integration_test(reload)
add_test(NAME docs.configuration
  COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/docs_check.sh $<TARGET_FILE:bpjs-syncd>
          ${PROJECT_SOURCE_DIR}/docs/configuration.md)
