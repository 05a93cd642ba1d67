################################################################################
#
# mcce
#
################################################################################

# No release has been published yet: the package builds the working copy
# this br2-external tree lives in (README, "Add to Buildroot"), without its
# target/ directory. Its crates come from Buildroot's cargo home, filled
# once with `cargo fetch`, since a local source skips the download step
# that vendors them.
MCCE_VERSION = 0.1.0
MCCE_SITE = $(BR2_EXTERNAL_MCCE_PATH)/..
MCCE_SITE_METHOD = local
MCCE_OVERRIDE_SRCDIR_RSYNC_EXCLUSIONS = --exclude /target
MCCE_LICENSE = GPL-3.0+
MCCE_LICENSE_FILES = LICENSE

# One static binary, whatever the toolchain's C library. Setting the
# per-target RUSTFLAGS replaces the flags Buildroot's cargo infrastructure
# sets for ARM, so they are repeated here.
MCCE_RUSTFLAGS = -C target-feature=+crt-static
ifeq ($(NORMALIZED_ARCH),arm)
MCCE_RUSTFLAGS += -Clink-arg=-Wl,--allow-multiple-definition
endif
# Buildroot's cargo infrastructure sets the release profile from its own
# options (opt-level 2, no LTO, 16 codegen units), which makes the binary
# about a quarter bigger; these, a copy of Cargo.toml's profile (CI,
# ci/check-yocto.sh, checks they agree), come after it and win.
MCCE_CARGO_ENV = \
	CARGO_TARGET_$(call UPPERCASE,$(RUSTC_TARGET_NAME))_RUSTFLAGS="$(MCCE_RUSTFLAGS)" \
	CARGO_PROFILE_RELEASE_OPT_LEVEL="z" \
	CARGO_PROFILE_RELEASE_LTO="true" \
	CARGO_PROFILE_RELEASE_CODEGEN_UNITS="1"

# A fixed uid and gid: the data partition outlives the image, and a newer
# image must find its files owned by the same mcce (S90mcce hands back
# anything that is not, for images that picked another uid).
define MCCE_USERS
	mcce 510 mcce 510 * /var/lib/mcce - dialout,gpio mcce power logger
endef

# /var/lib/mcce is the data partition's mount point; its top belongs to
# root (the kept settings live there), the daemon's folders to mcce.
define MCCE_PERMISSIONS
	/var/lib/mcce d 0755 root root - - - - -
	/var/lib/mcce/days d 0755 mcce mcce - - - - -
	/var/lib/mcce/db d 0755 mcce mcce - - - - -
	/var/lib/mcce/publish d 0755 mcce mcce - - - - -
endef

# The defaults live in the source tree's overlay/ (the mcce images add that
# overlay too); installing them here makes the package work in any
# configuration. A rootfs overlay, copied later, can replace them.
define MCCE_INSTALL_DEFAULTS
	$(INSTALL) -D -m 0644 $(@D)/overlay/etc/mcce.conf \
		$(TARGET_DIR)/etc/mcce.conf
	$(INSTALL) -D -m 0644 $(@D)/overlay/etc/default/mcce \
		$(TARGET_DIR)/etc/default/mcce
endef
MCCE_POST_INSTALL_TARGET_HOOKS += MCCE_INSTALL_DEFAULTS

# The nightly digest: busybox crond with sysvinit, a timer with systemd.
# The crontab is private (0600); the image makes every file root's, and
# busybox crond reads only crontabs that belong to root.
define MCCE_INSTALL_INIT_SYSV
	$(INSTALL) -D -m 0755 $(MCCE_PKGDIR)/S90mcce \
		$(TARGET_DIR)/etc/init.d/S90mcce
	$(INSTALL) -D -m 0600 $(MCCE_PKGDIR)/mcce.crontab \
		$(TARGET_DIR)/etc/cron/crontabs/mcce
endef

# The data partition made on the card's first boot, found again after a
# flash, with the settings kept on it (S05mcce-data; docs/storage.md).
# mcce-new-image tells the first boot of an image that it is new, even when
# the same image was written again.
ifeq ($(BR2_PACKAGE_MCCE_DATA_PARTITION),y)
define MCCE_INSTALL_DATA_PARTITION_NEW_IMAGE
	$(INSTALL) -D -m 0644 $(MCCE_PKGDIR)/mcce-new-image \
		$(TARGET_DIR)/var/lib/mcce-new-image
endef
MCCE_POST_INSTALL_TARGET_HOOKS += MCCE_INSTALL_DATA_PARTITION_NEW_IMAGE
define MCCE_INSTALL_DATA_PARTITION_INIT_SYSV
	$(INSTALL) -D -m 0755 $(MCCE_PKGDIR)/S05mcce-data \
		$(TARGET_DIR)/etc/init.d/S05mcce-data
endef
MCCE_POST_INSTALL_TARGET_HOOKS += $(if $(BR2_INIT_SYSTEMD),,MCCE_INSTALL_DATA_PARTITION_INIT_SYSV)
define MCCE_INSTALL_DATA_PARTITION_INIT_SYSTEMD
	$(INSTALL) -D -m 0755 $(MCCE_PKGDIR)/S05mcce-data \
		$(TARGET_DIR)/usr/libexec/mcce-data
	$(INSTALL) -D -m 0644 $(MCCE_PKGDIR)/mcce-data.service \
		$(TARGET_DIR)/usr/lib/systemd/system/mcce-data.service
endef
MCCE_POST_INSTALL_TARGET_HOOKS += $(if $(BR2_INIT_SYSTEMD),MCCE_INSTALL_DATA_PARTITION_INIT_SYSTEMD)
endif

define MCCE_INSTALL_INIT_SYSTEMD
	$(INSTALL) -D -m 0644 $(MCCE_PKGDIR)/mcce.service \
		$(TARGET_DIR)/usr/lib/systemd/system/mcce.service
	$(INSTALL) -D -m 0644 $(MCCE_PKGDIR)/mcce-digest.service \
		$(TARGET_DIR)/usr/lib/systemd/system/mcce-digest.service
	$(INSTALL) -D -m 0644 $(MCCE_PKGDIR)/mcce-digest.timer \
		$(TARGET_DIR)/usr/lib/systemd/system/mcce-digest.timer
endef

ifeq ($(BR2_PACKAGE_MCCE_SERVE),y)
define MCCE_INSTALL_SERVE_INIT_SYSV
	$(INSTALL) -D -m 0755 $(MCCE_PKGDIR)/S91mcce-serve \
		$(TARGET_DIR)/etc/init.d/S91mcce-serve
endef
MCCE_POST_INSTALL_TARGET_HOOKS += $(if $(BR2_INIT_SYSTEMD),,MCCE_INSTALL_SERVE_INIT_SYSV)
define MCCE_INSTALL_SERVE_INIT_SYSTEMD
	$(INSTALL) -D -m 0644 $(MCCE_PKGDIR)/mcce-serve.service \
		$(TARGET_DIR)/usr/lib/systemd/system/mcce-serve.service
endef
MCCE_POST_INSTALL_TARGET_HOOKS += $(if $(BR2_INIT_SYSTEMD),MCCE_INSTALL_SERVE_INIT_SYSTEMD)
endif

ifeq ($(BR2_PACKAGE_MCCE_PUBLISH),y)
define MCCE_INSTALL_PUBLISH_INIT_SYSV
	$(INSTALL) -D -m 0755 $(MCCE_PKGDIR)/S92mcce-publish \
		$(TARGET_DIR)/etc/init.d/S92mcce-publish
endef
MCCE_POST_INSTALL_TARGET_HOOKS += $(if $(BR2_INIT_SYSTEMD),,MCCE_INSTALL_PUBLISH_INIT_SYSV)
define MCCE_INSTALL_PUBLISH_INIT_SYSTEMD
	$(INSTALL) -D -m 0644 $(MCCE_PKGDIR)/mcce-publish.service \
		$(TARGET_DIR)/usr/lib/systemd/system/mcce-publish.service
endef
MCCE_POST_INSTALL_TARGET_HOOKS += $(if $(BR2_INIT_SYSTEMD),MCCE_INSTALL_PUBLISH_INIT_SYSTEMD)
endif

$(eval $(cargo-package))
