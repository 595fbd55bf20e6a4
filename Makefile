# The two commands of the README. Each does all set-up first (scripts/setup.sh).
.PHONY: setup demo test bench

setup:
	./scripts/setup.sh

demo: setup
	node dist/cli/main.js demo

test: setup
	npm run typecheck
	npm run lint:layers
	npm test

bench: setup
	npm run bench
