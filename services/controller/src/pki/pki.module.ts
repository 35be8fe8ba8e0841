// SPDX-License-Identifier: Apache-2.0
import { Global, Module } from '@nestjs/common';
import { PkiService } from './pki.service.js';

@Global()
@Module({ providers: [PkiService], exports: [PkiService] })
export class PkiModule {}
