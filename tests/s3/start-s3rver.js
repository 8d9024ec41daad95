// Starts @20minutes/s3rver 4.0.4, whose package lacks its bin/ script: lib/cli.js only
// exports the command-line program, so parse the arguments here.
// Run with `node --openssl-legacy-provider` (without it, listing pagination fails).
require('@20minutes/s3rver/lib/cli').parseAsync(process.argv);
