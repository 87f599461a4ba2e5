"""Where stresskit touches the file system on the user's behalf: the rules for the files it reads
(inputs.py: bounded, regular files only) and writes (outputs.py: regular files only, checked and
locked before any work starts, replaced atomically). docs/files.md states the rules."""
