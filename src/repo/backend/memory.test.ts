import { backendConformance } from './conformance.js';
import { MemoryBackend } from './memory.js';

backendConformance('memory', async () => ({
  backend: new MemoryBackend(),
  cleanup: async () => {},
}));
