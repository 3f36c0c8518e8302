bpjs_unit_test(nik bpjs_common)
bpjs_unit_test(event bpjs_common)
bpjs_unit_test(config bpjs_common)
bpjs_unit_test(decide bpjs_daemon)
