# The check catalog is data (the *.toml files beside this one); this file only
# makes the folder installable as the package `infracheck.commands`.
