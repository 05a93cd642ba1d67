include $(sort $(wildcard $(BR2_EXTERNAL_MCCE_PATH)/package/*/*.mk))
