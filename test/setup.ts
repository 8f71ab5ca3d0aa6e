// Tests must not inherit a real runner's environment: every GitHub face reads these.
for (const key of Object.keys(process.env)) {
  if (key.startsWith('INPUT_') || key.startsWith('GITHUB_') || key === 'ACT' || key === 'RUNNER_TOOL_CACHE') {
    delete process.env[key];
  }
}
