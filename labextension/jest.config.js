// Unit tests of the pure logic and the REST client: plain ts-jest in jsdom-free Node,
// so that they run in seconds (nothing of JupyterLab is loaded).
module.exports = {
  preset: 'ts-jest',
  testEnvironment: 'node',
  testMatch: ['<rootDir>/test/**/*.spec.ts'],
  transform: {
    '^.+\\.tsx?$': ['ts-jest', { tsconfig: 'tsconfig.eslint.json' }]
  }
};
