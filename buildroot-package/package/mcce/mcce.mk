################################################################################
#
# mcce
#
################################################################################

# Release tags are named v<version>. To build from a working copy instead,
# see MCCE_OVERRIDE_SRCDIR in the project's README (vendoring is then up to
# you).
MCCE_VERSION = 0.1.0
MCCE_SITE = $(call github,mcce-rs,mcce,v$(MCCE_VERSION))
MCCE_LICENSE = GPL-3.0+
MCCE_LICENSE_FILES = LICENSE

# One static binary, whatever the toolchain's C library. Setting the
# per-target RUSTFLAGS replaces the flags Buildroot's cargo infrastructure
# sets for ARM, so they are repeated here.
MCCE_RUSTFLAGS = -C target-feature=+crt-static
ifeq ($(NORMALIZED_ARCH),arm)
MCCE_RUSTFLAGS += -Clink-arg=-Wl,--allow-multiple-definition
endif
MCCE_CARGO_ENV = \
	CARGO_TARGET_$(call UPPERCASE,$(RUSTC_TARGET_NAME))_RUSTFLAGS="$(MCCE_RUSTFLAGS)"

define MCCE_USERS
	mcce -1 mcce -1 * /var/lib/mcce - dialout,gpio mcce power logger
endef

define MCCE_PERMISSIONS
	/var/lib/mcce d 0755 mcce mcce - - - - -
	/var/lib/mcce/db d 0755 mcce mcce - - - - -
endef

define MCCE_INSTALL_INIT_SYSV
	$(INSTALL) -D -m 0755 $(MCCE_PKGDIR)/S90mcce \
		$(TARGET_DIR)/etc/init.d/S90mcce
endef

define MCCE_INSTALL_INIT_SYSTEMD
	$(INSTALL) -D -m 0644 $(MCCE_PKGDIR)/mcce.service \
		$(TARGET_DIR)/usr/lib/systemd/system/mcce.service
endef

$(eval $(cargo-package))
