"""ImageFolderExampleGen: image files in class folders (optionally in split folders) to Examples."""
