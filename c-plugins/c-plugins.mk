# C test plugins, built against our include/.  (Filled in by the plugin ABI work.)
c-plugins:
	@true
