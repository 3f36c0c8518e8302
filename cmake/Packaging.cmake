# Packaging: `cpack -G DEB` in a build configured with
# -DCMAKE_INSTALL_PREFIX=/usr builds bpjs-sync_<version>-1_<arch>.deb with
# the daemon, bpjs-syncctl, the systemd unit, sysusers.d and tmpfiles.d
# files, the example configuration (a conffile) and the docs. Dependencies
# come from dpkg-shlibdeps; the maintainer scripts are cmake/debian/*.
# scripts/check-package builds it and installs and purges it in a Debian 12
# root.

# The unit names the daemon where this build installs it (/usr/sbin for the
# package). Regenerated whenever systemd/bpjs-syncd.service changes.
set(BPJS_UNIT_SOURCE ${PROJECT_SOURCE_DIR}/systemd/bpjs-syncd.service)
set_property(DIRECTORY ${PROJECT_SOURCE_DIR} APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
             ${BPJS_UNIT_SOURCE})
file(READ ${BPJS_UNIT_SOURCE} bpjs_unit)
string(REPLACE "/usr/sbin/bpjs-syncd" "${CMAKE_INSTALL_FULL_SBINDIR}/bpjs-syncd" bpjs_unit
               "${bpjs_unit}")
file(WRITE ${PROJECT_BINARY_DIR}/systemd/bpjs-syncd.service "${bpjs_unit}")

if(NOT CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  message(STATUS "packaging: a .deb wants -DCMAKE_INSTALL_PREFIX=/usr "
                 "(this build installs under ${CMAKE_INSTALL_PREFIX})")
endif()

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME bpjs-sync)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "bpjs-sync")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "enrols workers in BPJS Ketenagakerjaan programmes from Kafka events")
set(BPJS_PACKAGE_MAINTAINER "bpjs-sync maintainers <root@localhost>"
    CACHE STRING "Maintainer field of the .deb")
set(CPACK_PACKAGE_CONTACT "${BPJS_PACKAGE_MAINTAINER}")
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
set(CPACK_STRIP_FILES ON)
# The mock endpoint and the mock Kafka tool are test tools: not in the package.
set(CPACK_PRE_BUILD_SCRIPTS ${PROJECT_SOURCE_DIR}/cmake/debian/drop-test-tools.cmake)

set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# The long description (CPack puts the summary above it).
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "bpjs-syncd consumes enrolment events from registration portals, decides
each one (quota, duplicates, NIK rules), journals it in SQLite, registers
workers with the BPJS Ketenagakerjaan endpoint and publishes every result.
It runs as the systemd service bpjs-syncd.service; bpjs-syncctl is the
operator's tool on its journal.")
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# systemd-sysusers and systemd-tmpfiles run in postinst; the unit's
# ExecReload= runs /bin/kill, which is procps' (not in a minimal Debian root:
# systemd-analyze verify says "Command /bin/kill is not executable" without
# it); sqlite3 backs up the journal while the daemon runs.
set(CPACK_DEBIAN_PACKAGE_DEPENDS "systemd, procps")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "sqlite3")

file(WRITE ${PROJECT_BINARY_DIR}/debian/conffiles
     "${CMAKE_INSTALL_FULL_SYSCONFDIR}/bpjs-sync/config.yaml.example\n")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${PROJECT_SOURCE_DIR}/cmake/debian/postinst
    ${PROJECT_SOURCE_DIR}/cmake/debian/prerm
    ${PROJECT_SOURCE_DIR}/cmake/debian/postrm
    ${PROJECT_BINARY_DIR}/debian/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)

include(CPack)
