import { backendConformance } from './testing/conformance.js';
import { MemoryBackend } from './memory.js';

backendConformance('memory', async () => ({
  backend: new MemoryBackend(),
  cleanup: async () => {},
}));
