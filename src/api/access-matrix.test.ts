import { accessMatrixSuite } from './test-support/matrix-suite.js';

accessMatrixSuite('embedded database', 'memory:');
